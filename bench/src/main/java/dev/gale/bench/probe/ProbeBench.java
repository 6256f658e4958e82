package dev.gale.bench.probe;

import dev.gale.core.cpu.WorkerPool;
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
 * The roofline probes under JMH, for cross-checking the report runner's numbers. Times are per pass over the
 * streams; GB/s = {@code mib} MiB (read) or 3 x {@code mib} MiB (triad) / time. The FMA benchmarks do
 * {@code 2 * fmaIterations * 12 chains * lanes} flops per thread per call.
 *
 * <p>Run with {@code scripts/bench --jmh ProbeBench}; the fork adds the Vector API module itself.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class ProbeBench {
    /** MiB per stream. */
    @Param("512")
    public int mib;

    /** FMA iterations per chain per call. */
    @Param("4000000")
    public int fmaIterations;

    private RooflineProbes probes;

    @Setup(Level.Trial)
    public void setup() {
        RooflineProbes.Config base = RooflineProbes.Config.standard();
        probes = new RooflineProbes(new RooflineProbes.Config(mib * RooflineProbes.Config.MIB, base.reps(),
                base.warmupNanos(), fmaIterations), WorkerPool.shared());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        probes.close();
    }

    @Benchmark
    public double readX1() {
        return probes.read(true);
    }

    @Benchmark
    public double readAll() {
        return probes.read(false);
    }

    @Benchmark
    public double triadX1() {
        return probes.triad(true);
    }

    @Benchmark
    public double triadAll() {
        return probes.triad(false);
    }

    @Benchmark
    public double fmaX1() {
        return probes.fma(true);
    }

    @Benchmark
    public double fmaAll() {
        return probes.fma(false);
    }
}
