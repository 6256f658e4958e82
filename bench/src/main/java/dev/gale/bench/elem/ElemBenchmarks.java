package dev.gale.bench.elem;

import dev.gale.bench.BenchCase;
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
 * JMH over the element-wise cases of {@link ElemBenchCases}, selected by index into the full (non-quick) list, so the
 * same operands and shapes serve the report runner and JMH. Run e.g.
 * {@code java -jar bench/target/benchmarks.jar ElemBenchmarks -p caseIndex=0,7 -prof gc} (the gc profiler should show
 * ≈ 0 B/op for the {@code x1} cases). {@link #main} lists the indices.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class ElemBenchmarks {
    @Param({"1", "2", "7", "8", "17", "21", "22", "25", "26", "30", "31", "32"})
    public int caseIndex;

    private BenchCase c;

    @Setup(Level.Trial)
    public void setup() {
        c = new ElemBenchCases().cases(false).get(caseIndex);
        c.setup();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        c.close();
    }

    @Benchmark
    public void op() {
        c.run();
    }

    /** Prints the case indices. */
    public static void main(String[] args) {
        var cases = new ElemBenchCases().cases(false);
        for (int i = 0; i < cases.size(); i++) {
            System.out.println(i + "\t" + cases.get(i));
        }
    }
}
