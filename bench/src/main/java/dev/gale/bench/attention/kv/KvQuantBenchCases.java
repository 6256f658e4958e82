package dev.gale.bench.attention.kv;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.Roofline;
import dev.gale.bench.report.Table;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.attention.DecodeAttention;
import dev.gale.kernels.attention.DecodeKv;
import dev.gale.kernels.attention.DecodePlanner;
import dev.gale.kernels.attention.DecodeShape;
import dev.gale.kernels.attention.DenseKv;
import dev.gale.kernels.attention.HeadView;
import dev.gale.kernels.attention.KiviCache;
import dev.gale.kernels.attention.KiviLayout;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.kernels.attention.WorkList;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * Decode attention over a quantized KV cache against the real F16 path: one query token (batch 1) against a
 * 32k-token context, d = 128, 32 query / 8 KV heads (GQA 4, Llama-3-8B) and 8/8 heads, KIVI G = 32, R = 128, F16
 * residual windows. Every precision runs the same code around its cache: {@link DecodeAttention} with the planner's
 * schedule on {@link WorkerPool#shared()}, over a {@link DenseKv} (F16, head-major) or a {@link KiviCache} (INT4,
 * INT2), so the cases differ only in what the inner loop reads and how it decodes it.
 *
 * <p>{@link #bytes()} is what the cache holds for the context (codes, scales, zeros, residual windows; for F16 every
 * element), plus the query and output; the roofline is the read-only probe. {@link #flops()} counts the two GEMVs,
 * {@code 2·2·Hq·N·d}. The table {@value #TABLE} times the three precisions in one process, interleaved round by
 * round so machine load hits them alike, and prints the speed-up over F16.
 */
public final class KvQuantBenchCases implements BenchCaseProvider {
    static final String TABLE = "decode attention kv: int4/int2 kivi vs f16";
    static final int D = 128;
    static final int G = 32;
    static final int R = 128;
    static final int[][] HEADS = {{32, 8}, {8, 8}};
    static final KvPrecision[] PRECISIONS = {KvPrecision.F16, KvPrecision.INT4, KvPrecision.INT2};

    @Override
    public List<BenchCase> cases(boolean quick) {
        int n = quick ? 4096 : 32768;
        List<BenchCase> cases = new ArrayList<>();
        for (int[] h : HEADS) {
            for (KvPrecision p : PRECISIONS) {
                cases.add(new DecodeCase(h[0], h[1], p, n));
            }
        }
        return cases;
    }

    @Override
    public List<Table> tables(boolean quick, Predicate<String> wanted) {
        if (!wanted.test(TABLE)) {
            return List.of();
        }
        int n = quick ? 4096 : 32768;
        int rounds = quick ? 5 : 15;
        List<List<String>> rows = new ArrayList<>();
        for (int[] h : HEADS) {
            DecodeCase[] cases = new DecodeCase[PRECISIONS.length];
            double[][] times = new double[cases.length][rounds];
            try {
                for (int i = 0; i < cases.length; i++) {
                    cases[i] = new DecodeCase(h[0], h[1], PRECISIONS[i], n);
                    cases[i].setup();
                    for (int w = 0; w < 10; w++) {
                        cases[i].run();
                    }
                }
                for (int r = 0; r < rounds; r++) {
                    for (int i = 0; i < cases.length; i++) {
                        long t0 = System.nanoTime();
                        cases[i].run();
                        times[i][r] = System.nanoTime() - t0;
                    }
                }
                double[] med = new double[cases.length];
                List<String> gbs = new ArrayList<>();
                for (int i = 0; i < cases.length; i++) {
                    double[] t = times[i].clone();
                    Arrays.sort(t);
                    med[i] = t[t.length / 2];
                    gbs.add(String.format("%.1f", cases[i].bytes() / med[i]));
                }
                rows.add(List.of("B1 " + h[0] + "/" + h[1] + " heads d" + D + " ctx " + n + " (G" + G + " R" + R + ")",
                        "x" + WorkerPool.shared().threads(),
                        String.format("%.2f ms / %.2f ms / %.2f ms", med[0] / 1e6, med[1] / 1e6, med[2] / 1e6),
                        String.format("%.2f", med[0] / med[1]), String.format("%.2f", med[0] / med[2]),
                        String.join(" / ", gbs)));
            } finally {
                for (DecodeCase c : cases) {
                    if (c != null) {
                        c.close();
                    }
                }
            }
        }
        return List.of(new Table(TABLE, List.of("shape", "workers", "median f16 / int4 / int2", "f16 ÷ int4",
                "f16 ÷ int2", "GB/s of cache f16 / int4 / int2"), rows, List.of(
                "Each precision's whole decode call (DecodeAttention, planner's schedule) timed in this process, "
                        + rounds + " interleaved rounds after 10 warm-up calls each, median; > 1 means KIVI is faster.",
                "F16: DenseKv over a head-major F16 cache, the path of 'decode attention f16'. INT4/INT2: KiviCache,"
                        + " F16 residual windows; GB/s counts the bytes each cache holds for the context.")));
    }

    /** One precision at one head shape and context length. */
    static final class DecodeCase implements BenchCase {
        private final int heads;
        private final int kvHeads;
        private final KvPrecision precision;
        private final int n;
        private Arena arena;
        private KiviCache kivi;
        private DecodeKv kv;
        private WorkList list;
        private MemorySegment q;
        private MemorySegment out;
        private DecodeAttention runner;

        DecodeCase(int heads, int kvHeads, KvPrecision precision, int n) {
            this.heads = heads;
            this.kvHeads = kvHeads;
            this.precision = precision;
            this.n = n;
        }

        @Override
        public String op() {
            return "decode attention kv";
        }

        @Override
        public String shape() {
            return "B1 " + heads + "/" + kvHeads + " heads d" + D + " ctx " + n + " (G" + G + " R" + R + ")";
        }

        @Override
        public String impl() {
            String what = precision.quantized() ? "int" + precision.bits() + "-kivi" : "f16 dense";
            return what + " vector-api x" + WorkerPool.shared().threads() + " "
                    + (list == null ? "auto" : "auto:" + list.schedule());
        }

        @Override
        public double bytes() {
            double cacheBytes = precision.quantized()
                    ? precision.bytesPerToken(kvHeads, D, G, R, n, KvPrecision.F16) * n
                    : KvPrecision.F16.bytesPerToken(kvHeads, D, G, R) * n;
            return cacheBytes + 2.0 * 4 * heads * D;
        }

        @Override
        public double flops() {
            return 2.0 * 2 * heads * (double) n * D;
        }

        @Override
        public Roofline roofline() {
            return Roofline.READ_BW;
        }

        @Override
        public void setup() {
            SplittableRandom r = new SplittableRandom(5);
            arena = Arena.ofShared();
            q = arena.allocate(4L * heads * D, 64);
            for (int i = 0; i < heads * D; i++) {
                q.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-1, 1));
            }
            out = arena.allocate(4L * heads * D, 64);
            long elems = (long) kvHeads * n * D;
            if (precision.quantized()) {
                kivi = new KiviCache(KiviLayout.of(precision, G, R), 1, kvHeads, D, n, KvPrecision.F16);
                // Synthetic keys and values, token-major [n][kvHeads][d], prefilled in one call (KIVI's prefill).
                try (Buffer kb = Buffers.allocate("k", DType.F32, elems);
                     Buffer vb = Buffers.allocate("v", DType.F32, elems)) {
                    for (long i = 0; i < elems; i++) {
                        kb.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-2, 2));
                        vb.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-2, 2));
                    }
                    kivi.prefill(0, HeadView.tokenMajor(kb.segment(), 0, kvHeads, D),
                            HeadView.tokenMajor(vb.segment(), 0, kvHeads, D), n);
                }
                kv = kivi;
            } else {
                MemorySegment k = arena.allocate(2 * elems, 64);
                MemorySegment v = arena.allocate(2 * elems, 64);
                for (long i = 0; i < elems; i++) {
                    k.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) r.nextDouble(-2, 2)));
                    v.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) r.nextDouble(-2, 2)));
                }
                kv = DenseKv.headMajor(k, v, DType.F16, kvHeads, n, D, new int[] {n});
            }
            runner = new DecodeAttention();
            list = DecodePlanner.standard().plan(DecodePlanner.Schedule.AUTO, DecodeShape.of(kv), runner.workers());
        }

        @Override
        public void run() {
            runner.run(kv, list, heads, (float) (1 / Math.sqrt(D)), q, 0, out, 0);
        }

        @Override
        public void close() {
            if (kivi != null) {
                kivi.close();
                kivi = null;
            }
            if (arena != null) {
                arena.close();
                arena = null;
            }
            kv = null;
        }
    }
}
