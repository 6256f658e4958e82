package dev.gale.bench.gemm;

import dev.gale.bench.gemm.LinearCase.Weights;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * GEMM {@code Y = X·Wᵀ} at Llama prefill shapes, F32 and F16 weights, parallel and single-thread. GFLOP/s =
 * 2·tokens·out·in / time; compare with an FMA-peak probe run on the same machine at the same time.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
public class GemmBenchmark {
    /** {@code tokens x out x in}. */
    @Param({"512x14336x4096", "512x2048x8192", "128x2048x2048"})
    public String shape;

    @Param({"F32", "F16"})
    public String weights;

    private LinearCase c;

    @Setup(Level.Trial)
    public void setup() {
        String[] d = shape.split("x");
        c = new LinearCase(Weights.valueOf(weights), Integer.parseInt(d[0]), Integer.parseInt(d[1]),
                Integer.parseInt(d[2]), "jmh");
        c.setup();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        c.close();
    }

    @Benchmark
    public float parallel() {
        c.run();
        return c.firstOutput();
    }

    @Benchmark
    public float single() {
        c.runSingleThread();
        return c.firstOutput();
    }
}
