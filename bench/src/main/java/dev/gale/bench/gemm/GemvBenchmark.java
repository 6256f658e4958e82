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
 * GEMV {@code y = W·x} at Llama decode shapes, F32 and F16 weights, parallel and single-thread. GB/s = weight bytes /
 * time; compare with a read-bandwidth probe run on the same machine at the same time. Run with {@code -prof gc} to
 * see that {@code single} allocates nothing.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class GemvBenchmark {
    /** {@code out x in}. */
    @Param({"4096x4096", "14336x4096", "128256x2048"})
    public String shape;

    @Param({"F32", "F16"})
    public String weights;

    private LinearCase c;

    @Setup(Level.Trial)
    public void setup() {
        String[] d = shape.split("x");
        c = new LinearCase(Weights.valueOf(weights), 1, Integer.parseInt(d[0]), Integer.parseInt(d[1]), "jmh");
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
