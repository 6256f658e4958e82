package dev.gale.bench.quant;

import dev.gale.kernels.quant.Q4_0Matmul;
import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.Q8Activations;
import dev.gale.kernels.quant.Q8_0Matmul;
import dev.gale.kernels.quant.Q8_0Lanes;
import dev.gale.kernels.quant.Q8_0Packed;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
import org.openjdk.jmh.infra.Blackhole;

/**
 * JMH for the quant family: single-thread row-range kernels (the hot path, check {@code -prof gc} for ≈ 0 B/op) and
 * the parallel entry points, at Llama shapes. {@code shape} is {@code in x out}; {@code tokens} 1 is a GEMV.
 * A read-bandwidth loop over the same weight bytes runs in the same fork as the denominator. {@code packed*} are the
 * decode kernels on the row lanes {@link Q4_0Lanes} and {@link Q8_0Lanes} (Q8 activations), {@link Q4_0Packed} and
 * {@link Q8_0Packed} (F32; all packed once in setup); the others read llama.cpp's layout
 * ({@link Q4_0Matmul}/{@link Q8_0Matmul}), the previous variant, kept as the baseline.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class QuantBench {
    @Param({"2048x8192", "4096x14336"})
    public String shape;

    @Param({"Q8_0", "Q4_0"})
    public String format;

    @Param({"1"})
    public int tokens;

    private Arena arena;
    private MemorySegment w;
    private MemorySegment x;
    private MemorySegment y;
    private Q8Activations xq;
    private int in;
    private int out;
    private boolean q4;
    private Q4_0Packed p4;
    private Q4_0Lanes l4;
    private Q8_0Packed p8;
    private Q8_0Lanes l8;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = shape.split("x");
        in = Integer.parseInt(p[0]);
        out = Integer.parseInt(p[1]);
        QuantBenchCases.Format f = QuantBenchCases.Format.valueOf(format);
        q4 = f == QuantBenchCases.Format.Q4_0;
        arena = Arena.ofShared();
        w = QuantBenchCases.syntheticWeights(arena, f, out, in);
        x = QuantBenchCases.syntheticActivations(arena, tokens, in);
        y = arena.allocate(4L * tokens * out, 64);
        xq = new Q8Activations(arena.allocate(Q8Activations.scratchBytes(tokens, in), 64), 0, tokens, in);
        xq.quantize(x, 0, tokens);
        if (q4) {
            p4 = Q4_0Packed.pack(w, 0, out, in, arena);
            l4 = Q4_0Lanes.pack(w, 0, out, in, arena);
        } else {
            p8 = Q8_0Packed.pack(w, 0, out, in, arena);
            l8 = Q8_0Lanes.pack(w, 0, out, in, arena);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void quantizeActivations() {
        xq.quantize(x, 0, tokens);
    }

    @Benchmark
    public void q8ActivationsSingleThread() {
        if (q4) {
            Q4_0Matmul.INSTANCE.matmul(w, 0, out, in, xq, y, 0, 0, out);
        } else {
            Q8_0Matmul.INSTANCE.matmul(w, 0, out, in, xq, y, 0, 0, out);
        }
    }

    @Benchmark
    public void f32ActivationsSingleThread() {
        if (q4) {
            Q4_0Matmul.INSTANCE.matmulF32(w, 0, out, in, x, 0, tokens, y, 0, 0, out);
        } else {
            Q8_0Matmul.INSTANCE.matmulF32(w, 0, out, in, x, 0, tokens, y, 0, 0, out);
        }
    }

    @Benchmark
    public void q8ActivationsParallel() {
        if (q4) {
            Q4_0Matmul.INSTANCE.matmulParallel(w, 0, out, in, xq, y, 0);
        } else {
            Q8_0Matmul.INSTANCE.matmulParallel(w, 0, out, in, xq, y, 0);
        }
    }

    @Benchmark
    public void f32ActivationsParallel() {
        if (q4) {
            Q4_0Matmul.INSTANCE.matmulF32Parallel(w, 0, out, in, x, 0, tokens, y, 0);
        } else {
            Q8_0Matmul.INSTANCE.matmulF32Parallel(w, 0, out, in, x, 0, tokens, y, 0);
        }
    }

    @Benchmark
    public void packedQ8ActivationsSingleThread() {
        if (q4) {
            l4.matmul(xq, y, 0, 0, out);
        } else {
            l8.matmul(xq, y, 0, 0, out);
        }
    }

    @Benchmark
    public void packedF32ActivationsSingleThread() {
        if (q4) {
            p4.matmulF32(x, 0, tokens, y, 0, 0, out);
        } else {
            p8.matmulF32(x, 0, tokens, y, 0, 0, out);
        }
    }

    @Benchmark
    public void packedQ8ActivationsParallel() {
        if (q4) {
            l4.matmulParallel(xq, y, 0);
        } else {
            l8.matmulParallel(xq, y, 0);
        }
    }

    @Benchmark
    public void packedF32ActivationsParallel() {
        if (q4) {
            p4.matmulF32Parallel(x, 0, tokens, y, 0);
        } else {
            p8.matmulF32Parallel(x, 0, tokens, y, 0);
        }
    }

    /** Reads every weight byte once (8 longs per step, 4 accumulators): the GEMV's bandwidth roofline. */
    @Benchmark
    public void readBandwidthSameBytes(Blackhole bh) {
        long n = w.byteSize() & ~31L;
        long a = 0;
        long b = 0;
        long c = 0;
        long d = 0;
        for (long o = 0; o < n; o += 32) {
            a += w.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o);
            b += w.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o + 8);
            c += w.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o + 16);
            d += w.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o + 24);
        }
        bh.consume(a + b + c + d);
    }
}
