package dev.gale.bench.attention.kv;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.Roofline;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.attention.HeadView;
import dev.gale.kernels.attention.KiviCache;
import dev.gale.kernels.attention.KiviLayout;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.kernels.attention.SoftmaxState;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Decode attention over a quantized KV cache: one query token (batch 1) against a 32k-token context, 32 query heads
 * over 8 KV heads (GQA 4), d = 128, KIVI G = 32, R = 128, F16 residual windows. INT4 and INT2 KIVI caches through
 * {@link KiviCache#accumulate} against an F16 dense cache through the bench-local {@link F16DecodeBaseline}, on the
 * same workers: the 8 KV heads are spread over {@link WorkerPool#shared()}, each folded whole into its 4 states.
 *
 * <p>{@link #bytes()} is what the cache holds for the context (codes, scales, zeros, residual windows; for F16 every
 * element), plus the query and output; the roofline is the read-only probe. {@link #flops()} counts the two GEMVs,
 * {@code 2·2·Hq·N·d}.
 */
public final class KvQuantBenchCases implements BenchCaseProvider {
    static final int HQ = 32;
    static final int HKV = 8;
    static final int D = 128;
    static final int G = 32;
    static final int R = 128;

    @Override
    public List<BenchCase> cases(boolean quick) {
        int n = quick ? 4096 : 32768;
        List<BenchCase> cases = new ArrayList<>();
        cases.add(new DecodeCase(KvPrecision.F16, n));
        cases.add(new DecodeCase(KvPrecision.INT4, n));
        cases.add(new DecodeCase(KvPrecision.INT2, n));
        return cases;
    }

    /** One precision at one context length. */
    static final class DecodeCase implements BenchCase {
        private final KvPrecision precision;
        private final int n;
        private final int g = HQ / HKV;
        private KiviCache cache;
        private Buffer k16;
        private Buffer v16;
        private float[][] q;
        private float[][] st;
        private float[][] scratch;
        private Buffer out;
        private WorkerPool.RangeBody body;

        DecodeCase(KvPrecision precision, int n) {
            this.precision = precision;
            this.n = n;
        }

        @Override
        public String op() {
            return "decode attention kv";
        }

        @Override
        public String shape() {
            return n / 1024 + "k ctx, " + HQ + "q/" + HKV + "kv heads, d" + D + " (G" + G + " R" + R + ")";
        }

        @Override
        public String impl() {
            String what = precision.quantized() ? "int" + precision.bits() + "-kivi vector-api"
                    : "f16 dense (bench-local baseline)";
            return what + " x" + WorkerPool.shared().threads();
        }

        @Override
        public double bytes() {
            double cacheBytes = precision.quantized()
                    ? precision.bytesPerToken(HKV, D, G, R, n, KvPrecision.F16) * n
                    : KvPrecision.F16.bytesPerToken(HKV, D, G, R) * n;
            return cacheBytes + 2.0 * 4 * HQ * D;
        }

        @Override
        public double flops() {
            return 2.0 * 2 * HQ * (double) n * D;
        }

        @Override
        public Roofline roofline() {
            return Roofline.READ_BW;
        }

        @Override
        public void setup() {
            SplittableRandom r = new SplittableRandom(5);
            q = new float[HKV][g * D];
            st = new float[HKV][g * (D + 2)];
            float scale = (float) (1 / Math.sqrt(D));
            for (float[] row : q) {
                for (int i = 0; i < row.length; i++) {
                    row[i] = (float) r.nextDouble(-1, 1) * scale;
                }
            }
            out = Buffers.allocate("out", DType.F32, HQ * D);
            long elems = (long) HKV * n * D;
            if (precision.quantized()) {
                cache = new KiviCache(KiviLayout.of(precision, G, R), 1, HKV, D, n, KvPrecision.F16);
                // Synthetic keys and values, prefilled in slices of 1024 tokens to keep the staging buffer small.
                int slice = 1024;
                try (Buffer kb = Buffers.allocate("k", DType.F32, (long) slice * HKV * D);
                     Buffer vb = Buffers.allocate("v", DType.F32, (long) slice * HKV * D)) {
                    for (int t0 = 0; t0 < n; t0 += slice) {
                        fill(kb.segment(), r);
                        fill(vb.segment(), r);
                        HeadView k = HeadView.tokenMajor(kb.segment(), 0, HKV, D);
                        HeadView v = HeadView.tokenMajor(vb.segment(), 0, HKV, D);
                        for (int t = 0; t < Math.min(slice, n - t0); t++) {
                            cache.append(0, k, v, t);
                        }
                    }
                }
                scratch = new float[HKV][cache.scratchFloats(n, g)];
                body = (from, to) -> {
                    for (int h = from; h < to; h++) {
                        SoftmaxState.reset(st[h], 0, g, D);
                        cache.accumulate(0, h, 0, n, q[h], 0, g, st[h], 0, scratch[h]);
                        finish(h);
                    }
                };
            } else {
                k16 = Buffers.allocate("k16", DType.F16, elems);
                v16 = Buffers.allocate("v16", DType.F16, elems);
                for (long i = 0; i < elems; i++) {
                    k16.segment().setAtIndex(dev.gale.kernels.Operands.F16, i,
                            Float.floatToFloat16((float) r.nextDouble(-2, 2)));
                    v16.segment().setAtIndex(dev.gale.kernels.Operands.F16, i,
                            Float.floatToFloat16((float) r.nextDouble(-2, 2)));
                }
                scratch = new float[HKV][F16DecodeBaseline.scratchFloats(g)];
                body = (from, to) -> {
                    for (int h = from; h < to; h++) {
                        SoftmaxState.reset(st[h], 0, g, D);
                        F16DecodeBaseline.accumulate(k16.segment(), v16.segment(), 2L * h * n * D, n, D, q[h], g,
                                st[h], scratch[h]);
                        finish(h);
                    }
                };
            }
        }

        private static void fill(MemorySegment seg, SplittableRandom r) {
            for (long i = 0; i < seg.byteSize() / 4; i++) {
                seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-2, 2));
            }
        }

        private void finish(int h) {
            for (int row = 0; row < g; row++) {
                SoftmaxState.normalise(st[h], row * (D + 2), D, out.segment(), 4L * (h * g + row) * D);
            }
        }

        @Override
        public void run() {
            WorkerPool.shared().parallelFor(HKV, 1, body);
        }

        @Override
        public void close() {
            if (cache != null) {
                cache.close();
                cache = null;
            }
            for (Buffer b : new Buffer[] {k16, v16, out}) {
                if (b != null) {
                    b.close();
                }
            }
            k16 = null;
            v16 = null;
            out = null;
        }
    }
}
