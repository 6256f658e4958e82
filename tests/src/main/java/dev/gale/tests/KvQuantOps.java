package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.attention.HeadView;
import dev.gale.kernels.attention.KiviCache;
import dev.gale.kernels.attention.KiviLayout;
import dev.gale.kernels.attention.KiviQuantizer;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.kernels.attention.KvQuantKernels;
import dev.gale.kernels.attention.SoftmaxState;
import dev.gale.kernels.attention.WorkList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The KIVI cache's device kernels in the cross-device matrix: quantize-on-append (bit-identical cache buffers) and
 * the fused-dequant decode partial pass (partial states per work-list slot).
 */
public final class KvQuantOps {
    private static final int LOCAL = 64;
    /** bits, G, R, d: the broadcast unpack (4-bit), 16 codes a word (2-bit), words spanning a chunk (8-bit). */
    /** Tokens a device appends per batch in the append check: 51 steps in batches of 5 cross every window edge. */
    private static final int BATCH = 5;
    private static final int[][] CONFIGS = {{4, 16, 32, 32}, {2, 16, 32, 32}, {8, 16, 32, 32}};

    private KvQuantOps() {
    }

    /** Both checks, in matrix order. */
    public static List<OpCheck> all() {
        return List.of(append(), decodePartial());
    }

    private static float[] random(SplittableRandom r, int n, double spread) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextDouble(-1, 1) * spread);
        }
        return v;
    }

    /**
     * Two sequences (the second prefilled with a few tokens first) appended across two residual
     * windows, against the scalar reference appends: every buffer must match bit for bit.
     */
    static OpCheck append() {
        return new OpCheck("kivi_append", "bit-identical cache buffers (codes, scales, zeros, F16 windows)",
                (t, e) -> {
                    SplittableRandom r = new SplittableRandom(41);
                    int heads = 2;
                    int seqs = 2;
                    for (int[] c : CONFIGS) {
                        KiviLayout layout = new KiviLayout(c[0], c[1], c[2]);
                        int d = c[3];
                        int steps = c[2] + c[1] + 3; // past one key-window quantization and the value ring's first overflow
                        int pre = c[1] + 5;
                        int n = steps + pre;
                        float[] kx = random(r, n * seqs * heads * d, 2);
                        float[] vx = random(r, n * seqs * heads * d, 2);
                        for (int i = 0; i < d * 40; i += d) {
                            kx[i] = 0.25f; // a constant channel over the first window: s = 0
                        }
                        try (Buffer kb = Buffers.f32("k", kx); Buffer vb = Buffers.f32("v", vx);
                             KiviCache want = new KiviCache(layout, seqs, heads, d, n, KvPrecision.F16);
                             KiviCache got = new KiviCache(layout, seqs, heads, d, n, KvPrecision.F16);
                             Buffer kt = Buffers.allocate("kt", DType.F32, BATCH * seqs * heads * d);
                             Buffer vt = Buffers.allocate("vt", DType.F32, BATCH * seqs * heads * d);
                             Buffer lens = Buffers.allocate("lengths", DType.I32, seqs)) {
                            // Token i of sequence s is row (i·seqs + s) of k and v.
                            HeadView k = new HeadView(kb.segment(), 0, DType.F32, (long) seqs * heads * d, d);
                            HeadView k1 = new HeadView(kb.segment(), (long) heads * d * 4, DType.F32,
                                    (long) seqs * heads * d, d);
                            HeadView v = new HeadView(vb.segment(), 0, DType.F32, (long) seqs * heads * d, d);
                            HeadView v1 = new HeadView(vb.segment(), (long) heads * d * 4, DType.F32,
                                    (long) seqs * heads * d, d);
                            want.prefillReference(1, k1, v1, pre);
                            got.prefillReference(1, k1, v1, pre);
                            for (int i = 0; i < steps; i++) {
                                want.appendReference(0, k, v, i);
                                want.appendReference(1, k1, v1, pre + i);
                            }
                            // Devices take the steps in batches of up to BATCH tokens, one launch per token index,
                            // as a prompt is appended: the batch's later tokens quantize windows its earlier filled.
                            for (int i = 0; i < steps; i += t.vectorApi() ? 1 : BATCH) {
                                if (t.vectorApi()) {
                                    got.append(0, k, v, i);
                                    got.append(1, k1, v1, pre + i);
                                    continue;
                                }
                                int batch = Math.min(BATCH, steps - i);
                                for (int s = 0; s < seqs; s++) {
                                    lens.setInt(s, got.length(s));
                                    for (int j = 0; j < batch; j++) {
                                        int row = (s == 0 ? i + j : pre + i + j) * seqs + s;
                                        for (int x = 0; x < heads * d; x++) {
                                            long at = ((long) j * seqs + s) * heads * d + x;
                                            kt.setFloat(at, kx[row * heads * d + x]);
                                            vt.setFloat(at, vx[row * heads * d + x]);
                                        }
                                    }
                                }
                                for (int j = 0; j < batch; j++) {
                                    t.kernel(KvQuantKernels.class, "kiviAppend",
                                            Grid.of1(Ops.roundUp(seqs * heads * d, LOCAL), LOCAL), kt, vt, lens,
                                            got.keyCodes(), got.keyScale(), got.keyZero(), got.valueCodes(),
                                            got.valueScale(), got.valueZero(), got.keyResidual(),
                                            got.valueResidual(), j, seqs, heads, d, c[0], c[1], c[2],
                                            got.capacity(), KiviQuantizer.invLevels(layout.levels()));
                                }
                                for (int s = 0; s < seqs; s++) {
                                    got.setLength(s, got.length(s) + batch);
                                }
                            }
                            Buffer[] a = want.buffers();
                            Buffer[] b = got.buffers();
                            for (int i = 0; i < a.length; i++) {
                                e.exact("int" + c[0] + " " + a[i].name() + " first differing byte",
                                        a[i].segment().mismatch(b[i].segment()), -1);
                            }
                        }
                    }
                });
    }

    /**
     * Decode partial states (m, l, Õ) per work-list slot over caches of two sequences (lengths inside and across
     * residual windows, one of a single token), GQA groups of 1 and 4. The Vector API path is held to partial states
     * computed in double from the dequantized cache; device kernels to the Vector API path's states.
     */
    static OpCheck decodePartial() {
        String tol = "m: score bound; l, O (rescaled to the same m): 4(n + d)u + 2 score bounds, of sum p|v|";
        return new OpCheck("kivi_decode_partial", tol, (t, e) -> {
            SplittableRandom r = new SplittableRandom(43);
            boolean small = t.name().equals("emulator");
            int heads = 2;
            for (int[] c : CONFIGS) {
                KiviLayout layout = new KiviLayout(c[0], c[1], c[2]);
                int d = c[3];
                int G = c[1];
                int[][] lengthSets = small ? new int[][] {{c[2] + 5, 1}} : new int[][] {{c[2] + G + 5, 1},
                    {3 * c[2] + 7, 2 * G - 1}};
                for (int g : small ? new int[] {4} : new int[] {1, 4}) {
                    for (int[] lens : lengthSets) {
                        run(t, e, r, layout, d, heads, g, lens);
                    }
                }
            }
        });
    }

    private static void run(Target t, Errors e, SplittableRandom r, KiviLayout layout, int d, int heads, int g,
            int[] lens) {
        int seqs = lens.length;
        int G = layout.group();
        int n = Math.max(lens[0], lens[1]);
        float scale = (float) (1 / Math.sqrt(d));
        int workers = 3;
        int[] tileLengths = new int[seqs * heads];
        for (int tile = 0; tile < tileLengths.length; tile++) {
            tileLengths[tile] = lens[tile / heads];
        }
        // One segment per (tile, third of the tile) on G boundaries, dealt round-robin to the workers.
        WorkList.Builder wb = WorkList.builder("kivi-test", workers, tileLengths);
        int next = 0;
        for (int tile = 0; tile < tileLengths.length; tile++) {
            int len = tileLengths[tile];
            int piece = Math.max(G, (len / 3 + G - 1) / G * G);
            for (int from = 0; from < len; from += piece) {
                wb.add(next++ % workers, tile, from, Math.min(len, from + piece));
            }
        }
        WorkList list = wb.build();
        int stride = SoftmaxState.stride(d);
        try (KiviCache cache = new KiviCache(layout, seqs, heads, d, n, KvPrecision.F16);
             Buffer qb = Buffers.f32("q", random(r, seqs * heads * g * d, 2));
             Buffer seg = Buffers.allocate("segments", DType.I32, list.segments().length);
             Buffer ws = Buffers.allocate("workerStart", DType.I32, list.workerStart().length);
             Buffer lb = Buffers.allocate("lengths", DType.I32, seqs);
             Buffer partials = Buffers.allocate("partials", DType.F32, (long) list.slots() * g * stride)) {
            for (int s = 0; s < seqs; s++) {
                float[] kx = random(r, lens[s] * heads * d, 1);
                for (int i = 3; i < kx.length; i += d) {
                    kx[i] = kx[i] * 8 + 5; // an outlier channel
                }
                try (Buffer kb = Buffers.f32("k", kx); Buffer vb = Buffers.f32("v", random(r, lens[s] * heads * d,
                        2))) {
                    cache.prefill(s, HeadView.tokenMajor(kb.segment(), 0, heads, d),
                            HeadView.tokenMajor(vb.segment(), 0, heads, d), lens[s]);
                }
                lb.setInt(s, lens[s]);
            }
            for (int i = 0; i < list.segments().length; i++) {
                seg.setInt(i, list.segments()[i]);
            }
            for (int i = 0; i < list.workerStart().length; i++) {
                ws.setInt(i, list.workerStart()[i]);
            }
            float[] cpu = cpuStates(cache, list, qb.toFloatArray(), g, scale);
            float[] want;
            float[] got;
            if (t.vectorApi()) {
                want = referenceStates(cache, list, qb.toFloatArray(), g, scale);
                got = cpu;
            } else {
                t.kernel(KvQuantKernels.class, "kiviDecodePartial", Grid.of1(workers * LOCAL, LOCAL), seg, ws, qb,
                        partials, cache.keyCodes(), cache.keyScale(), cache.keyZero(), cache.valueCodes(),
                        cache.valueScale(), cache.valueZero(), cache.keyResidual(), cache.valueResidual(), lb, heads, d,
                        g, layout.bits(), G, layout.residual(), cache.capacity(), scale, g * d, g * G, g);
                want = cpu;
                got = partials.toFloatArray();
            }
            compare(e, cache, list, qb.toFloatArray(), g, scale, want, got, "int" + layout.bits() + " g " + g
                    + " lengths " + lens[0] + "," + lens[1]);
        }
    }

    /** The CPU path's states: {@link KiviCache#accumulate} per segment. */
    private static float[] cpuStates(KiviCache cache, WorkList list, float[] q, int g, float scale) {
        int d = cache.headDim();
        int stride = d + 2;
        float[] st = new float[list.slots() * g * stride];
        float[] qs = new float[g * d];
        float[] scratch = new float[cache.scratchFloats(cache.capacity(), g)];
        int[] s = list.segments();
        for (int i = 0; i < s.length; i += WorkList.SEG) {
            int tile = s[i];
            int slot = s[i + 3];
            for (int x = 0; x < g * d; x++) {
                qs[x] = q[tile * g * d + x] * scale;
            }
            SoftmaxState.reset(st, slot * g * stride, g, d);
            cache.accumulate(tile / cache.kvHeads(), tile % cache.kvHeads(), s[i + 1], s[i + 2], qs, 0, g, st,
                    slot * g * stride, scratch);
        }
        return st;
    }

    /** Partial states in double from the dequantized cache (rounded to F32 at the end). */
    private static float[] referenceStates(KiviCache cache, WorkList list, float[] q, int g, float scale) {
        int d = cache.headDim();
        int stride = d + 2;
        float[] st = new float[list.slots() * g * stride];
        float[][][] deq = dequantized(cache);
        int[] s = list.segments();
        for (int i = 0; i < s.length; i += WorkList.SEG) {
            int tile = s[i];
            int len = cache.length(tile / cache.kvHeads());
            float[] k = deq[tile][0];
            float[] v = deq[tile][1];
            for (int row = 0; row < g; row++) {
                int o = (s[i + 3] * g + row) * stride;
                double m = Double.NEGATIVE_INFINITY;
                double[] sc = new double[len];
                for (int j = s[i + 1]; j < s[i + 2]; j++) {
                    double dot = 0;
                    for (int x = 0; x < d; x++) {
                        dot += (double) (q[(tile * g + row) * d + x] * scale) * k[j * d + x];
                    }
                    sc[j] = dot;
                    m = Math.max(m, dot);
                }
                double l = 0;
                double[] acc = new double[d];
                for (int j = s[i + 1]; j < s[i + 2]; j++) {
                    double p = Math.exp(sc[j] - m);
                    l += p;
                    for (int x = 0; x < d; x++) {
                        acc[x] += p * v[j * d + x];
                    }
                }
                st[o + SoftmaxState.M] = (float) m;
                st[o + SoftmaxState.L] = (float) l;
                for (int x = 0; x < d; x++) {
                    st[o + SoftmaxState.O + x] = (float) acc[x];
                }
            }
        }
        return st;
    }

    /**
     * Compares states slot by slot. The score error bound δ: both sums of the fused form, chains of up to
     * {@code d + 2} terms each at most {@code |q_c·τ|·(|k^| + 2|z|) <= 3·|q_c·τ|·max|k^|}. {@code m} must agree
     * within δ; {@code l} and {@code Õ} are rescaled to the wanted {@code m} and held to
     * {@code (4(n + d)u + 2δ)} of {@code l} and of {@code Σ p|v| <= l·max|v|}.
     */
    private static void compare(Errors e, KiviCache cache, WorkList list, float[] q, int g, float scale,
            float[] want, float[] got, String label) {
        int d = cache.headDim();
        int stride = d + 2;
        double u = Numerics.U_F32;
        int[] s = list.segments();
        float[][][] deq = dequantized(cache);
        for (int i = 0; i < s.length; i += WorkList.SEG) {
            int tile = s[i];
            int len = cache.length(tile / cache.kvHeads());
            float[] k = deq[tile][0];
            float[] v = deq[tile][1];
            double kmax = 0;
            double vmax = 0;
            for (int x = 0; x < len * d; x++) {
                kmax = Math.max(kmax, Math.abs(k[x]));
                vmax = Math.max(vmax, Math.abs(v[x]));
            }
            int n = s[i + 2] - s[i + 1];
            for (int row = 0; row < g; row++) {
                double qabs = 0;
                for (int x = 0; x < d; x++) {
                    qabs += Math.abs(q[(tile * g + row) * d + x] * scale);
                }
                double delta = 2 * (d + 2) * u * qabs * 3 * kmax;
                int o = (s[i + 3] * g + row) * stride;
                String where = label + " slot " + s[i + 3] + " row " + row;
                double mw = want[o + SoftmaxState.M];
                double mg = got[o + SoftmaxState.M];
                e.check(where + " m", mg, mw, Math.max(delta, Float.MIN_NORMAL), 1);
                double rescale = Math.exp(mg - mw);
                double lw = want[o + SoftmaxState.L];
                double tolRel = 4 * (n + d) * u + 2 * delta;
                e.check(where + " l", got[o + SoftmaxState.L] * rescale, lw, lw, tolRel);
                for (int x = 0; x < d; x++) {
                    e.check(where + " O" + x, got[o + SoftmaxState.O + x] * rescale, want[o + SoftmaxState.O + x],
                            lw * vmax, tolRel);
                }
            }
        }
    }

    /** {@code [tile][k or v]}: every tile's cache content, dequantized. */
    private static float[][][] dequantized(KiviCache cache) {
        int d = cache.headDim();
        float[][][] out = new float[cache.sequences() * cache.kvHeads()][2][];
        for (int tile = 0; tile < out.length; tile++) {
            int len = cache.length(tile / cache.kvHeads());
            out[tile][0] = new float[len * d];
            out[tile][1] = new float[len * d];
            cache.dequantize(tile / cache.kvHeads(), tile % cache.kvHeads(), out[tile][0], out[tile][1]);
        }
        return out;
    }
}
