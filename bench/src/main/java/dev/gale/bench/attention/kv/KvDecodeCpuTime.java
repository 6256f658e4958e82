package dev.gale.bench.attention.kv;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.kernels.attention.DecodeKv;
import dev.gale.kernels.attention.DenseKv;
import dev.gale.kernels.attention.HeadView;
import dev.gale.kernels.attention.KiviCache;
import dev.gale.kernels.attention.KiviLayout;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.kernels.attention.SoftmaxState;
import java.lang.foreign.Arena;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The decode inner loop of each cache timed in <em>thread CPU time</em> on one thread, for comparisons on a loaded
 * machine (wall time there mostly measures the other tenants): one KV head's 32k-token range folded into g = 4 and
 * g = 1 states through {@link DecodeKv#accumulate} in pieces of 256 tokens (as {@code DecodeAttention} calls it), F16
 * {@link DenseKv} against INT4 and INT2 {@link KiviCache}, interleaved round by round.
 *
 * <p>Each round also times an FMA probe (sixteen independent chains of {@code SPECIES_PREFERRED} FMAs, operands in
 * registers; eight left it latency-bound on the AVX-512 Xeon, 0.226 against 0.182 ns per FMA) on the same thread, so a cache's time per 32-token group is also given in <em>FMA times</em>, against
 * the FMAs its loop must issue per group ({@code g·G·d/L} for scores and as many for values, plus {@code G·d/L} for
 * KIVI's value dequantisation): a ratio near 1 means the loop runs at the FMA throughput bound whatever the load on
 * the machine. With a few thousand tokens the cache stays in L2/L3 and this measures the arithmetic alone; with
 * 32k the difference is the memory.
 *
 * <p>Run: {@code java $GALE_JVM_FLAGS -Xbatch -cp bench/target/benchmarks.jar
 * dev.gale.bench.attention.kv.KvDecodeCpuTime [tokens] [rounds]}.
 */
public final class KvDecodeCpuTime {
    private static final int D = 128;
    private static final int HEADS = 2;
    private static final int PIECE = 256;

    private KvDecodeCpuTime() {
    }

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 32768;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 11;
        SplittableRandom r = new SplittableRandom(5);
        List<String> names = new ArrayList<>();
        List<DecodeKv> caches = new ArrayList<>();
        long elems = (long) HEADS * n * D;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k16 = arena.allocate(2 * elems, 64);
            MemorySegment v16 = arena.allocate(2 * elems, 64);
            for (long i = 0; i < elems; i++) {
                k16.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) r.nextDouble(-2, 2)));
                v16.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) r.nextDouble(-2, 2)));
            }
            caches.add(DenseKv.headMajor(k16, v16, DType.F16, HEADS, n, D, new int[] {n}));
            names.add("f16");
            for (KvPrecision p : new KvPrecision[] {KvPrecision.INT4, KvPrecision.INT2}) {
                KiviCache c = new KiviCache(KiviLayout.of(p, KvQuantBenchCases.G, KvQuantBenchCases.R), 1, HEADS, D,
                        n, KvPrecision.F16);
                try (Buffer kb = Buffers.allocate("k", DType.F32, elems);
                     Buffer vb = Buffers.allocate("v", DType.F32, elems)) {
                    for (long i = 0; i < elems; i++) {
                        kb.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-2, 2));
                        vb.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-2, 2));
                    }
                    c.prefill(0, HeadView.tokenMajor(kb.segment(), 0, HEADS, D),
                            HeadView.tokenMajor(vb.segment(), 0, HEADS, D), n);
                }
                caches.add(c);
                names.add(p.toString().toLowerCase());
            }
            for (int g : new int[] {4, 1}) {
                time(caches, names, n, g, rounds, r);
            }
            for (DecodeKv c : caches) {
                if (c instanceof KiviCache k) {
                    k.close();
                }
            }
        }
    }

    private static void time(List<DecodeKv> caches, List<String> names, int n, int g, int rounds,
            SplittableRandom r) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        float[] q = new float[g * D];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (r.nextDouble(-1, 1) / Math.sqrt(D));
        }
        float[] st = new float[g * (D + 2)];
        float[][] scratch = new float[caches.size()][];
        for (int i = 0; i < caches.size(); i++) {
            scratch[i] = new float[caches.get(i).scratchFloats(PIECE, g)];
        }
        double[][] ms = new double[caches.size()][rounds];
        double fma = Double.POSITIVE_INFINITY;
        // Warm-up per cache until its time stops improving: a JVM that has just run another g deoptimises the fold
        // for the new shape, and until C2 has recompiled it the Vector API runs boxed (a g = 1 F16 row read 4× slow
        // after five fixed warm-up rounds without -Xbatch).
        for (int i = 0; i < caches.size(); i++) {
            double best = Double.POSITIVE_INFINITY;
            double spent = 0;
            // at least a second (C2 needs that long at small n), then until three runs in a row do not improve
            for (int w = 0, still = 0; w < 2000 && (spent < 1000 || still < 3); w++) {
                double t = foldMillis(mx, caches.get(i), n, g, q, st, scratch[i]);
                still = t < 0.98 * best ? 0 : still + 1;
                best = Math.min(best, t);
                spent += t * HEADS;
            }
        }
        for (int round = 0; round < rounds; round++) {
            fma = Math.min(fma, fmaNanos(mx));
            for (int i = 0; i < caches.size(); i++) {
                ms[i][round] = foldMillis(mx, caches.get(i), n, g, q, st, scratch[i]);
            }
        }
        double f16 = min(ms[0]);
        int groups = n / KvQuantBenchCases.G;
        int perGroup = g * KvQuantBenchCases.G * D / F.length();
        for (int i = 0; i < caches.size(); i++) {
            double[] s = ms[i].clone();
            Arrays.sort(s);
            double ns = s[0] * 1e6 / groups;
            int fmas = 2 * perGroup + (i == 0 ? 0 : KvQuantBenchCases.G * D / F.length());
            System.out.printf("g %d %-4s one head, %d tokens, thread CPU time: min %.3f ms, median %.3f ms,"
                    + " f16 / this (min) %.2f; per group %.0f ns = %.0f FMA times for %d FMAs (%.2fx)%n", g,
                    names.get(i), n, s[0], s[s.length / 2], f16 / s[0], ns, ns / fma, fmas, ns / fma / fmas);
        }
        System.out.printf("FMA probe: %.3f ns per %d-lane FMA (best of the rounds)%n", fma, F.length());
    }

    /** Thread CPU milliseconds per KV head to fold {@code n} tokens of each head into g rows, piece by piece. */
    private static double foldMillis(ThreadMXBean mx, DecodeKv kv, int n, int g, float[] q, float[] st,
            float[] scratch) {
        long c0 = mx.getCurrentThreadCpuTime();
        for (int h = 0; h < HEADS; h++) {
            SoftmaxState.reset(st, 0, g, D);
            for (int t = 0; t < n; t += PIECE) {
                kv.accumulate(0, h, t, Math.min(n, t + PIECE), q, 0, g, st, 0, scratch);
            }
        }
        return (mx.getCurrentThreadCpuTime() - c0) / 1e6 / HEADS;
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static volatile float sink;

    /** Thread CPU nanoseconds per FMA at full throughput: sixteen independent chains, operands in registers. */
    private static double fmaNanos(ThreadMXBean mx) {
        int n = 1 << 20;
        FloatVector a0 = FloatVector.broadcast(F, 1f);
        FloatVector a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
        FloatVector x = FloatVector.broadcast(F, 0.999f);
        FloatVector y = FloatVector.broadcast(F, 1e-7f);
        long c0 = mx.getCurrentThreadCpuTime();
        for (int i = 0; i < n; i++) {
            a0 = a0.fma(x, y);
            a1 = a1.fma(x, y);
            a2 = a2.fma(x, y);
            a3 = a3.fma(x, y);
            a4 = a4.fma(x, y);
            a5 = a5.fma(x, y);
            a6 = a6.fma(x, y);
            a7 = a7.fma(x, y);
            b0 = b0.fma(x, y);
            b1 = b1.fma(x, y);
            b2 = b2.fma(x, y);
            b3 = b3.fma(x, y);
            b4 = b4.fma(x, y);
            b5 = b5.fma(x, y);
            b6 = b6.fma(x, y);
            b7 = b7.fma(x, y);
        }
        long c1 = mx.getCurrentThreadCpuTime();
        sink = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(b0).add(b1).add(b2).add(b3).add(b4)
                .add(b5).add(b6).add(b7).reduceLanes(VectorOperators.ADD);
        return (c1 - c0) / (16.0 * n);
    }

    private static double min(double[] x) {
        double m = Double.POSITIVE_INFINITY;
        for (double v : x) {
            m = Math.min(m, v);
        }
        return m;
    }
}
