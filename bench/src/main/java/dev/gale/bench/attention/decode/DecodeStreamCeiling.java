package dev.gale.bench.attention.decode;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.FloatConversions;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.attention.DenseKv;
import dev.gale.kernels.attention.SoftmaxState;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * How far F16 decode attention is from the memory traffic it needs: the same cache read three ways on all pool
 * threads, interleaved round by round, each KV head's keys and values in the 32-token chunks the kernel stages:
 * <ul>
 * <li>{@code attention}: {@link DenseKv#accumulate}, the whole fold, in the pieces {@code DecodeAttention} uses;</li>
 * <li>{@code widen only}: only the F16 → F32 widening of those chunks into the worker's scratch (the kernel's memory
 * phase);</li>
 * <li>{@code copy only}: a bulk copy of the same bytes into scratch, the fastest way Java reads this stream.</li>
 * </ul>
 * Java has no software prefetch, so a thread's chunk loads and its arithmetic on the previous chunk do not overlap
 * beyond what the hardware prefetchers and the out-of-order window give; the gap between {@code attention} and
 * {@code widen only} is the arithmetic that did not hide, and {@code copy only} is the ceiling of this access
 * pattern, to set beside the runner's read probe (one stream summed per thread).
 *
 * <p>Run: {@code java $GALE_JVM_FLAGS -cp bench/target/benchmarks.jar
 * dev.gale.bench.attention.decode.DecodeStreamCeiling [tokens] [rounds]}.
 */
public final class DecodeStreamCeiling {
    private static final int D = 128;
    private static final int KV_HEADS = 8;
    private static final int CHUNK = 32;

    private DecodeStreamCeiling() {
    }

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 32768;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 11;
        WorkerPool pool = WorkerPool.shared();
        long elems = (long) KV_HEADS * n * D;
        SplittableRandom r = new SplittableRandom(7);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment k = arena.allocate(2 * elems, 64);
            MemorySegment v = arena.allocate(2 * elems, 64);
            for (long i = 0; i < elems; i++) {
                k.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) r.nextDouble(-2, 2)));
                v.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) r.nextDouble(-2, 2)));
            }
            DenseKv kv = DenseKv.headMajor(k, v, DType.F16, KV_HEADS, n, D, new int[] {n});
            double bytes = 2.0 * elems * 2;
            System.out.printf("F16 cache, %d KV heads, d %d, %d tokens: %.0f MB read per pass, %d pool threads%n",
                    KV_HEADS, D, n, bytes / 1e6, pool.threads());
            for (int g : new int[] {4, 1}) {
                run(pool, kv, k, v, n, g, rounds, bytes, r);
            }
        }
    }

    private static void run(WorkerPool pool, DenseKv kv, MemorySegment k, MemorySegment v, int n, int g, int rounds,
            double bytes, SplittableRandom r) {
        float[] q = new float[KV_HEADS * g * D];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (r.nextDouble(-1, 1) / Math.sqrt(D));
        }
        float[][] st = new float[KV_HEADS][g * (D + 2)];
        float[][] scratch = new float[KV_HEADS][kv.scratchFloats(DenseKv.SPAN, g)];
        MemorySegment[] scratchSeg = new MemorySegment[KV_HEADS];
        for (int h = 0; h < KV_HEADS; h++) {
            scratchSeg[h] = MemorySegment.ofArray(scratch[h]);
        }
        long headBytes = 2L * n * D;
        WorkerPool.RangeBody attention = (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                SoftmaxState.reset(st[h], 0, g, D);
                for (int t = 0; t < n; t += DenseKv.SPAN) {
                    kv.accumulate(0, h, t, Math.min(n, t + DenseKv.SPAN), q, h * g * D, g, st[h], 0, scratch[h]);
                }
            }
        };
        WorkerPool.RangeBody widen = (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                for (int t = 0; t < n; t += CHUNK) {
                    int m = Math.min(CHUNK, n - t) * D;
                    FloatConversions.f16ToF32(k, h * headBytes + 2L * t * D, scratch[h], 0, m);
                    FloatConversions.f16ToF32(v, h * headBytes + 2L * t * D, scratch[h], 0, m);
                }
            }
        };
        WorkerPool.RangeBody copy = (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                for (int t = 0; t < n; t += CHUNK) {
                    long m = 2L * Math.min(CHUNK, n - t) * D;
                    MemorySegment.copy(k, h * headBytes + 2L * t * D, scratchSeg[h], 0, m);
                    MemorySegment.copy(v, h * headBytes + 2L * t * D, scratchSeg[h], 0, m);
                }
            }
        };
        String[] names = {"attention", "widen only", "copy only"};
        WorkerPool.RangeBody[] bodies = {attention, widen, copy};
        double[][] ms = new double[bodies.length][rounds];
        for (int round = -3; round < rounds; round++) {
            for (int i = 0; i < bodies.length; i++) {
                long t0 = System.nanoTime();
                pool.parallelFor(KV_HEADS, 1, bodies[i]);
                if (round >= 0) {
                    ms[i][round] = (System.nanoTime() - t0) / 1e6;
                }
            }
        }
        double copyMedian = median(ms[2]);
        for (int i = 0; i < bodies.length; i++) {
            double med = median(ms[i]);
            System.out.printf("g %d %-10s median %7.2f ms, best %7.2f ms: %5.1f GB/s (median), copy only / this %.2f%n",
                    g, names[i], med, Arrays.stream(ms[i]).min().orElseThrow(), bytes / med / 1e6, copyMedian / med);
        }
    }

    private static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
