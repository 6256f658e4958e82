package dev.gale.bench.probe;

import dev.gale.bench.Roofline;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleSupplier;

/**
 * The roofline probes, measured in the same process as the ops they judge:
 * <ul>
 * <li>{@link Roofline#READ_BW}: a read-only streaming sum over one stream (the GEMV roofline: a GEMV only reads
 * weights). Bytes counted: the stream.</li>
 * <li>{@link Roofline#TRIAD_BW}: STREAM triad {@code a = b + s*c}. Bytes counted: three streams (two read, one
 * written), with no write-allocate traffic, as STREAM counts.</li>
 * <li>{@link Roofline#FMA_PEAK}: {@value ProbeKernels#FMA_CHAINS} independent vector FMA chains in registers, no
 * memory. Flops counted: 2 per lane per FMA.</li>
 * </ul>
 * Each runs on the calling thread alone and on every thread of a {@link WorkerPool}, where each thread takes one
 * contiguous, page-aligned share of the streams (or its own FMA chains). A measurement is a warm-up (at least
 * {@link Config#warmupNanos()}, then until the pass time stops improving: {@link WarmUp}) and then the best of
 * {@link Config#reps()} repetitions; the value is work / best time.
 *
 * <p>The streams are native memory, {@link Config#bytesPerStream()} each (default 512 MiB, and at least 1.5× the
 * L3), allocated and filled once, in parallel so that first-touch spreads pages the way the parallel probes read them.
 * Stream {@code b} holds {@code i & 3} (so {@link #expectedReadSum()} is exact), {@code c} holds 1.
 */
public final class RooflineProbes implements AutoCloseable {
    /**
     * Probe sizes and repetitions.
     *
     * @param bytesPerStream bytes of each of the three streams; rounded down to whole vectors
     * @param reps timed repetitions per probe; the best is the result
     * @param warmupNanos minimum warm-up per probe (and at least two calls); it goes on until steady, up to 20 times
     *     this (or 2 s, whichever is more)
     * @param fmaIterations FMA iterations per chain in one FMA repetition
     */
    public record Config(long bytesPerStream, int reps, long warmupNanos, int fmaIterations) {
        public static final long MIB = 1L << 20;

        public Config {
            if (bytesPerStream < Float.BYTES || reps < 1 || warmupNanos < 0 || fmaIterations < 1) {
                throw new IllegalArgumentException("bad probe config: " + bytesPerStream + " bytes per stream, " + reps
                        + " reps, " + warmupNanos + " ns warm-up, " + fmaIterations + " FMA iterations");
            }
        }

        /**
         * 512 MiB streams (or {@link #beyondLastCache 1.5× the L3}), best of 10, 0.5 s warm-up, 8M FMA iterations
         * (tens of ms per repetition).
         */
        public static Config standard() {
            return new Config(beyondLastCache(512 * MIB), 10, 500_000_000L, 8_000_000);
        }

        /** 128 MiB streams (or 1.5× the L3), best of 5, 0.2 s warm-up, 2M FMA iterations. */
        public static Config quick() {
            return new Config(beyondLastCache(128 * MIB), 5, 200_000_000L, 2_000_000);
        }

        /**
         * {@code bytes}, or 1.5× this machine's L3 where that is more: a probe stream that fits in the last-level
         * cache measures the cache, not memory. The Intel Xeon of 2026-11-27 reports a 300 MiB L3, where the quick
         * probe's 128 MiB read 51-54 GB/s against 25-34 for 512 MiB, so the decode table's ratios were halved.
         */
        static long beyondLastCache(long bytes) {
            long l3 = dev.gale.core.cpu.CpuDevice.instance().capabilities().cacheBytes()[2];
            long need = (l3 + l3 / 2 + MIB - 1) / MIB * MIB;
            return Math.max(bytes, need);
        }

        public Config withBytesPerStream(long bytes) {
            return new Config(bytes, reps, warmupNanos, fmaIterations);
        }
    }

    /** Elements per thread share are a multiple of this: 4 KiB pages of floats. */
    private static final long ALIGN_ELEMENTS = 4096 / Float.BYTES;
    private static final float TRIAD_SCALAR = 3.0f;
    private static final int JIT_WARMUP_CALLS = 2000;
    /** The warm-up waits at most this many times its minimum for the timings to settle. */
    private static final int WARMUP_LIMIT_FACTOR = 20;
    private static volatile double sink;

    private final Config config;
    private final WorkerPool pool;
    private final long n;
    private final Buffer a;
    private final Buffer b;
    private final Buffer c;
    private final double[] partial;

    /** Allocates and fills the three streams; {@link #close()} frees them. */
    public RooflineProbes(Config config, WorkerPool pool) {
        this.config = config;
        this.pool = pool;
        long elements = config.bytesPerStream() / Float.BYTES;
        long vectorStep = ProbeKernels.LANES;
        this.n = Math.max(vectorStep, elements / vectorStep * vectorStep);
        this.partial = new double[pool.threads()];
        Buffer aa = null;
        Buffer bb = null;
        Buffer cc = null;
        try {
            aa = Buffers.allocate("probe-a", DType.F32, n);
            bb = Buffers.allocate("probe-b", DType.F32, n);
            cc = Buffers.allocate("probe-c", DType.F32, n);
        } catch (RuntimeException e) {
            closeAll(aa, bb, cc);
            throw e;
        }
        this.a = aa;
        this.b = bb;
        this.c = cc;
        fill();
        compileKernels();
    }

    /** Elements in each stream. */
    public long elements() {
        return n;
    }

    public Config config() {
        return config;
    }

    /** The exact value {@link #read(boolean)} must return: the sum of {@code i & 3} over the stream. */
    public double expectedReadSum() {
        long full = n / 4;
        long rest = n % 4;
        return full * 6.0 + (rest * (rest - 1)) / 2;
    }

    /** All three probes on 1 thread and on all threads of the pool. */
    public ProbeSet runAll() {
        List<ProbeResult> out = new ArrayList<>();
        for (Roofline r : Roofline.values()) {
            out.add(measure(r, true));
            out.add(measure(r, false));
        }
        return new ProbeSet(out, pool.threads(), n * Float.BYTES);
    }

    /** Warm-up, then best of {@link Config#reps()} repetitions of one probe. */
    public ProbeResult measure(Roofline roofline, boolean singleThread) {
        int threads = singleThread ? 1 : pool.threads();
        DoubleSupplier body = switch (roofline) {
            case READ_BW -> () -> read(singleThread);
            case TRIAD_BW -> () -> triad(singleThread);
            case FMA_PEAK -> () -> fma(singleThread);
        };
        double work = switch (roofline) {
            case READ_BW -> (double) n * Float.BYTES;
            case TRIAD_BW -> 3.0 * n * Float.BYTES;
            case FMA_PEAK -> ProbeKernels.fmaChainsFlops(config.fmaIterations()) * threads;
        };
        WarmUp.run(() -> sink += body.getAsDouble(), config.warmupNanos(), 2,
                WARMUP_LIMIT_FACTOR * Math.max(config.warmupNanos(), 100_000_000L));
        double s = 0;
        double[] times = new double[config.reps()];
        for (int i = 0; i < times.length; i++) {
            long t0 = System.nanoTime();
            s += body.getAsDouble();
            times[i] = (System.nanoTime() - t0) * 1e-9;
        }
        sink += s;
        double best = Stats.min(times);
        return new ProbeResult(roofline, threads, work / best / 1e9, best, Stats.median(times), times.length, work);
    }

    /** One pass of the read-only sum over stream {@code b}; returns the sum. */
    public double read(boolean singleThread) {
        MemorySegment seg = b.segment();
        if (singleThread) {
            return ProbeKernels.readSum(seg, 0, n);
        }
        int t = pool.threads();
        pool.parallelFor(t, (start, end) -> {
            for (int k = start; k < end; k++) {
                partial[k] = ProbeKernels.readSum(seg, shareStart(k, t), shareStart(k + 1, t));
            }
        });
        double sum = 0;
        for (int k = 0; k < t; k++) {
            sum += partial[k];
        }
        return sum;
    }

    /** One pass of {@code a = b + 3 c}; returns a value that depends on the stores. */
    public double triad(boolean singleThread) {
        MemorySegment sa = a.segment();
        MemorySegment sb = b.segment();
        MemorySegment sc = c.segment();
        if (singleThread) {
            return ProbeKernels.triad(sa, sb, sc, TRIAD_SCALAR, 0, n);
        }
        int t = pool.threads();
        pool.parallelFor(t, (start, end) -> {
            for (int k = start; k < end; k++) {
                partial[k] = ProbeKernels.triad(sa, sb, sc, TRIAD_SCALAR, shareStart(k, t), shareStart(k + 1, t));
            }
        });
        double sum = 0;
        for (int k = 0; k < t; k++) {
            sum += partial[k];
        }
        return sum;
    }

    /** One repetition of the FMA chains, on each thread; returns the sum of all chain values. */
    public double fma(boolean singleThread) {
        int iterations = config.fmaIterations();
        if (singleThread) {
            return ProbeKernels.fmaChains(iterations, 1.0f);
        }
        int t = pool.threads();
        pool.parallelFor(t, (start, end) -> {
            for (int k = start; k < end; k++) {
                partial[k] = ProbeKernels.fmaChains(iterations, 1.0f + k);
            }
        });
        double sum = 0;
        for (int k = 0; k < t; k++) {
            sum += partial[k];
        }
        return sum;
    }

    /** Element of stream {@code a}, for checking the triad. */
    public float a(long i) {
        return a.getFloat(i);
    }

    /** Element of stream {@code b}. */
    public float b(long i) {
        return b.getFloat(i);
    }

    /** Element of stream {@code c}. */
    public float c(long i) {
        return c.getFloat(i);
    }

    /** The scalar {@code s} of the triad {@code a = b + s c}. */
    public static float triadScalar() {
        return TRIAD_SCALAR;
    }

    @Override
    public void close() {
        closeAll(a, b, c);
    }

    /** Start of thread {@code k}'s share of {@code t}: page-aligned, the last share ends at {@code n}. */
    private long shareStart(int k, int t) {
        if (k >= t) {
            return n;
        }
        long s = n / t * k;
        return Math.min(n, s / ALIGN_ELEMENTS * ALIGN_ELEMENTS);
    }

    private void fill() {
        MemorySegment sb = b.segment();
        MemorySegment sc = c.segment();
        MemorySegment sa = a.segment();
        int t = pool.threads();
        pool.parallelFor(t, (start, end) -> {
            for (int k = start; k < end; k++) {
                long to = shareStart(k + 1, t);
                for (long i = shareStart(k, t); i < to; i++) {
                    sb.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (i & 3));
                    sc.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 1.0f);
                    sa.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 0.0f);
                }
            }
        });
    }

    /**
     * Calls each kernel a few thousand times on an L1-sized range, so C2 has compiled them before the first timed
     * pass: an interpreted or C1 pass over 512 MiB of Vector API code takes seconds and the time-based warm-up alone
     * would only see a handful of calls.
     */
    private void compileKernels() {
        long small = Math.min(n, 1024);
        MemorySegment sa = a.segment();
        MemorySegment sb = b.segment();
        MemorySegment sc = c.segment();
        double s = 0;
        for (int i = 0; i < JIT_WARMUP_CALLS; i++) {
            s += ProbeKernels.readSum(sb, 0, small);
            s += ProbeKernels.triad(sa, sb, sc, TRIAD_SCALAR, 0, small);
            s += ProbeKernels.fmaChains(256, 1.0f);
        }
        sink += s;
    }

    private static void closeAll(Buffer... buffers) {
        for (Buffer buf : buffers) {
            if (buf != null) {
                buf.close();
            }
        }
    }

    /** Keeps the probes' results observable; never read in practice. */
    public static double sink() {
        return sink;
    }
}
