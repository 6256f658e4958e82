package dev.gale.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.kernels.AllocationCheck;
import dev.gale.kernels.Numerics;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * KIVI caches: the quantizer's bound and bit-exactness, append against bulk prefill, and decode attention through
 * the fused loop against (a) the reference on the dequantized cache and (b) the exact F32 cache.
 */
class KiviCacheTest {
    private static final double U = Numerics.U_F32;

    @Test
    void quantizerRoundTripIsWithinHalfAScaleAndVectorEqualsScalar() {
        SplittableRandom r = new SplittableRandom(1);
        int lanes = KiviQuantizer.L;
        for (int bits : new int[] {2, 4, 8}) {
            int levels = (1 << bits) - 1;
            for (int trial = 0; trial < 60; trial++) {
                int n = 32;
                float[] x = new float[n * lanes];
                double spread = Math.pow(10, r.nextInt(-6, 4));
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) (r.nextDouble(-1, 1) * spread + (trial % 3) * spread);
                }
                if (trial % 5 == 0) {
                    java.util.Arrays.fill(x, 0, n, 2.75f); // a constant run: s = 0
                }
                int[] codes = new int[n];
                float[] sz = new float[2];
                int[] vcodes = new int[n];
                float[] vsz = new float[2];
                KiviQuantizer.quantizeGroup(x, 0, 1, n, levels, codes, 0, sz, 0);
                KiviQuantizer.quantizeRun(x, 0, n, levels, vcodes, 0, vsz, 0);
                assertArrayEquals(codes, vcodes, "run codes, bits " + bits);
                assertEquals(Float.floatToRawIntBits(sz[0]), Float.floatToRawIntBits(vsz[0]));
                assertEquals(Float.floatToRawIntBits(sz[1]), Float.floatToRawIntBits(vsz[1]));
                for (int i = 0; i < n; i++) {
                    float xh = KiviQuantizer.dequantize(codes[i], sz[0], sz[1]);
                    assertFalse(Float.isNaN(xh));
                    assertTrue(codes[i] >= 0 && codes[i] <= levels);
                    // s/2, plus the roundings of q·s + z (and of the scale) at the size of the operands.
                    double bound = sz[0] / 2 + 4 * U * (Math.abs(x[i]) + Math.abs(sz[1]) + levels * sz[0]);
                    if (sz[0] == 0f) {
                        assertEquals(x[i], xh, 0.0, "s = 0 reconstructs exactly");
                    }
                    assertTrue(Math.abs(x[i] - xh) <= bound, "bits " + bits + " |x - x^| " + Math.abs(x[i] - xh)
                            + " > " + bound);
                }
                // Lanes: lane j quantizes x[j + i·lanes] (strided groups, the key layout).
                int[] lc = new int[n * lanes];
                float[] ls = new float[lanes];
                float[] lz = new float[lanes];
                KiviQuantizer.quantizeLanes(x, 0, lanes, n, levels, lc, 0, ls, 0, lz, 0);
                for (int j = 0; j < lanes; j++) {
                    KiviQuantizer.quantizeGroup(x, j, lanes, n, levels, codes, 0, sz, 0);
                    for (int i = 0; i < n; i++) {
                        assertEquals(codes[i], lc[i * lanes + j], "lane codes");
                    }
                    assertEquals(Float.floatToRawIntBits(sz[0]), Float.floatToRawIntBits(ls[j]));
                    assertEquals(Float.floatToRawIntBits(sz[1]), Float.floatToRawIntBits(lz[j]));
                }
            }
        }
    }

    @Test
    void bytesPerTokenCountsScalesAndZeros() {
        // d = 128, G = 32, 8 KV heads: codes d·B/8 plus (d/G)·8 bytes of scale and zero, for keys and values.
        assertEquals(2 * 8 * 128 * 4, KvPrecision.F32.bytesPerToken(8, 128, 32, 128));
        assertEquals(2 * 8 * 128 * 2, KvPrecision.F16.bytesPerToken(8, 128, 32, 128));
        assertEquals(2 * 8 * (128 + 32), KvPrecision.INT8.bytesPerToken(8, 128, 32, 128));
        assertEquals(2 * 8 * (64 + 32), KvPrecision.INT4.bytesPerToken(8, 128, 32, 128));
        assertEquals(2 * 8 * (32 + 32), KvPrecision.INT2.bytesPerToken(8, 128, 32, 128));
        double withWindows = KvPrecision.INT2.bytesPerToken(8, 128, 32, 128, 32768, KvPrecision.F16);
        assertEquals(2 * 8 * 64 + 2.0 * 8 * 128 * 128 * 2 / 32768, withWindows, 1e-9);
    }

    /** A cache configuration: bits, G, R, d. */
    private record Config(int bits, int G, int R, int d) {
        KiviLayout layout() {
            return new KiviLayout(bits, G, R);
        }
    }

    private static final Config[] CONFIGS = {
        new Config(4, 16, 48, 32), // the common path (broadcast unpack), a ring of 48
        new Config(2, 16, 32, 32), // 2-bit: 16 codes a word, two chunks per word
        new Config(8, 16, 32, 32), // 8-bit: a chunk spans two words (load + permute)
        new Config(8, 4, 8, 12),   // G and d not multiples of the vector: the scalar fallback
    };

    private static float[] random(SplittableRandom r, int n, double spread) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextDouble(-1, 1) * spread);
        }
        return v;
    }

    /** Keys with a few outlier channels (what per-channel key quantization is for) and plain values. */
    private static float[] keys(SplittableRandom r, int n, int heads, int d) {
        float[] k = random(r, n * heads * d, 1);
        for (int i = 0; i < k.length; i++) {
            if (i % d == 3) {
                k[i] = k[i] * 8 + 5;
            }
        }
        return k;
    }

    @Test
    void appendingTokenByTokenWritesTheBitsOfABulkPrefill() {
        SplittableRandom r = new SplittableRandom(7);
        for (Config c : CONFIGS) {
            for (KvPrecision res : new KvPrecision[] {KvPrecision.F16, KvPrecision.F32}) {
                int heads = 2;
                for (int n : new int[] {1, c.G - 1, c.G, c.R - 1, c.R, c.R + 1, 3 * c.R + c.G + 3}) {
                    try (Buffer kb = Buffers.f32("k", keys(r, n, heads, c.d));
                         Buffer vb = Buffers.f32("v", random(r, n * heads * c.d, 2));
                         KiviCache bulk = new KiviCache(c.layout(), 1, heads, c.d, n, res);
                         KiviCache vec = new KiviCache(c.layout(), 1, heads, c.d, n, res);
                         KiviCache ref = new KiviCache(c.layout(), 1, heads, c.d, n, res)) {
                        HeadView k = HeadView.tokenMajor(kb.segment(), 0, heads, c.d);
                        HeadView v = HeadView.tokenMajor(vb.segment(), 0, heads, c.d);
                        bulk.prefill(0, k, v, n);
                        for (int t = 0; t < n; t++) {
                            vec.append(0, k, v, t);
                            ref.appendReference(0, k, v, t);
                        }
                        Buffer[] a = bulk.buffers();
                        Buffer[] b = vec.buffers();
                        Buffer[] s = ref.buffers();
                        for (int i = 0; i < a.length; i++) {
                            String where = c + " " + res + " n " + n + " " + a[i].name();
                            assertEquals(-1L, a[i].segment().mismatch(b[i].segment()), "append vs bulk: " + where);
                            assertEquals(-1L, a[i].segment().mismatch(s[i].segment()), "reference: " + where);
                        }
                        assertEquals(n, vec.length(0));
                    }
                }
            }
        }
    }

    /** Decode output of every query head over one sequence, through {@code accumulate} on ranges of {@code split}. */
    static float[] decode(KiviCache cache, AttentionSpec spec, int seq, float[] q, int split) {
        int d = spec.headDim();
        int g = spec.group();
        int len = cache.length(seq);
        float[] out = new float[spec.heads() * d];
        float[] qs = new float[g * d];
        float[] st = new float[g * (d + 2)];
        float[] part = new float[g * (d + 2)];
        float[] scratch = new float[cache.scratchFloats(split, g)];
        try (Buffer o = Buffers.allocate("o", DType.F32, d)) {
            for (int kh = 0; kh < spec.kvHeads(); kh++) {
                for (int i = 0; i < g * d; i++) {
                    qs[i] = q[kh * g * d + i] * spec.scale();
                }
                SoftmaxState.reset(st, 0, g, d);
                for (int from = 0; from < len; from += split) {
                    SoftmaxState.reset(part, 0, g, d);
                    cache.accumulate(seq, kh, from, Math.min(len, from + split), qs, 0, g, part, 0, scratch);
                    for (int rr = 0; rr < g; rr++) {
                        SoftmaxState.merge(st, rr * (d + 2), part, rr * (d + 2), d);
                    }
                }
                for (int rr = 0; rr < g; rr++) {
                    SoftmaxState.normalise(st, rr * (d + 2), d, o.segment(), 0);
                    for (int e = 0; e < d; e++) {
                        out[(kh * g + rr) * d + e] = o.getFloat(e);
                    }
                }
            }
        }
        return out;
    }

    @Test
    void decodeMatchesTheReferenceOnTheDequantizedCacheAndTheExactCacheWithinTheScales() {
        SplittableRandom r = new SplittableRandom(11);
        for (Config c : CONFIGS) {
            int G = c.G;
            int R = c.R;
            int[] lengths = {1, 2, G - 1, G, G + 1, R - 1, R, R + 1, 4097};
            for (int g : new int[] {1, 4, 5}) {
                int kvHeads = 2;
                AttentionSpec spec = AttentionSpec.of(kvHeads * g, kvHeads, c.d, false);
                for (int n : lengths) {
                    // The long case once per GQA shape, on the main (4-bit) configuration.
                    if (n < 1 || (n == 4097 && (g == 5 || c != CONFIGS[0]))) {
                        continue;
                    }
                    check(r, c, spec, n);
                }
            }
        }
    }

    private void check(SplittableRandom r, Config c, AttentionSpec spec, int n) {
        int d = c.d;
        int kvHeads = spec.kvHeads();
        int levels = (1 << c.bits) - 1;
        float[] kx = keys(r, n, kvHeads, d);
        float[] vx = random(r, n * kvHeads * d, 2);
        float[] q = random(r, spec.heads() * d, 2);
        try (Buffer kb = Buffers.f32("k", kx); Buffer vb = Buffers.f32("v", vx);
             KiviCache cache = new KiviCache(c.layout(), 1, kvHeads, d, n, KvPrecision.F32)) {
            HeadView k = HeadView.tokenMajor(kb.segment(), 0, kvHeads, d);
            HeadView v = HeadView.tokenMajor(vb.segment(), 0, kvHeads, d);
            // Half by prefill, the rest appended: both paths feed the decode.
            cache.prefill(0, k, v, n / 2);
            for (int t = n / 2; t < n; t++) {
                cache.append(0, k, v, t);
            }
            int split = Math.max(c.G, (n / 3) / c.G * c.G);
            float[] got = decode(cache, spec, 0, q, split);
            // (a) The reference on what the cache holds, dequantized.
            float[] kh = new float[n * d];
            float[] vh = new float[n * d];
            float[] kd = new float[n * kvHeads * d];
            float[] vd = new float[n * kvHeads * d];
            for (int h = 0; h < kvHeads; h++) {
                cache.dequantize(0, h, kh, vh);
                for (int t = 0; t < n; t++) {
                    System.arraycopy(kh, t * d, kd, (t * kvHeads + h) * d, d);
                    System.arraycopy(vh, t * d, vd, (t * kvHeads + h) * d, d);
                }
            }
            double[] scaleAbs = new double[spec.heads() * d];
            float[] want = reference(spec, q, kd, vd, n, scaleAbs);
            float[] exact = reference(spec, q, kx, vx, n, null);
            int g = spec.group();
            for (int h = 0; h < spec.heads(); h++) {
                int khh = h / g;
                // Score error of the fused form: both sums of the factorisation, each a chain of up to d terms
                // bounded by |q_c|·(|s·code| + |z|) <= |q_c|·(|k^| + 2|z|), with |z| <= max |k^| of the head.
                double kmax = 0;
                double vmax = 0;
                for (int t = 0; t < n; t++) {
                    for (int e = 0; e < d; e++) {
                        kmax = Math.max(kmax, Math.abs(kd[(t * kvHeads + khh) * d + e]));
                        vmax = Math.max(vmax, Math.abs(vd[(t * kvHeads + khh) * d + e]));
                    }
                }
                double qabs = 0;
                for (int e = 0; e < d; e++) {
                    qabs += Math.abs(q[h * d + e]);
                }
                double ds = 2 * (d + 2) * U * qabs * spec.scale() * 3 * kmax;
                // (b) The exact cache: |k − k^| <= s/2 per element, so each score moves by at most
                // Δ = τ·Σ_c |q_c|·s_{c,group}/2 and each weight by a factor within e^{±2Δ}; values move by at most
                // s_v/2. Hence |o − o^| <= max s_v/2 + (e^{2Δ} − 1)·Σ p|v| (+ the F32 rounding of (a)).
                double delta = 0;
                double sv = 0;
                for (int t0 = 0; t0 < n; t0 += c.G) {
                    double groupDelta = 0;
                    for (int e = 0; e < d; e++) {
                        double mn = Double.MAX_VALUE;
                        double mx = -Double.MAX_VALUE;
                        for (int t = t0; t < Math.min(n, t0 + c.G); t++) {
                            mn = Math.min(mn, kx[(t * kvHeads + khh) * d + e]);
                            mx = Math.max(mx, kx[(t * kvHeads + khh) * d + e]);
                        }
                        groupDelta += Math.abs(q[h * d + e]) * spec.scale() * (mx - mn) / levels / 2;
                    }
                    delta = Math.max(delta, groupDelta);
                }
                for (int t = 0; t < n; t++) {
                    for (int gr = 0; gr < d / c.G; gr++) {
                        double mn = Double.MAX_VALUE;
                        double mx = -Double.MAX_VALUE;
                        for (int e = gr * c.G; e < (gr + 1) * c.G; e++) {
                            mn = Math.min(mn, vx[(t * kvHeads + khh) * d + e]);
                            mx = Math.max(mx, vx[(t * kvHeads + khh) * d + e]);
                        }
                        sv = Math.max(sv, (mx - mn) / levels / 2);
                    }
                }
                for (int e = 0; e < d; e++) {
                    int i = h * d + e;
                    double tolA = 2 * ds * scaleAbs[i] + (n + d) * U * 3 * vmax + Double.MIN_NORMAL;
                    String where = c + " g " + g + " n " + n + " head " + h + " e " + e;
                    assertFalse(Float.isNaN(got[i]), where);
                    assertTrue(Math.abs(got[i] - want[i]) <= tolA, "(a) " + where + ": " + got[i] + " vs " + want[i]
                            + " tol " + tolA);
                    double tolB = sv + Math.expm1(2 * delta) * scaleAbs[i] * 1.5 + tolA + 8 * U * vmax;
                    assertTrue(Math.abs(got[i] - exact[i]) <= tolB, "(b) " + where + ": " + got[i] + " vs "
                            + exact[i] + " tol " + tolB);
                }
            }
        }
    }

    /** AttentionReference over token-major F32 arrays. */
    private static float[] reference(AttentionSpec spec, float[] q, float[] k, float[] v, int n, double[] scale) {
        int d = spec.headDim();
        try (Buffer qb = Buffers.f32("q", q); Buffer kb = Buffers.f32("k", k); Buffer vb = Buffers.f32("v", v);
             Buffer ob = Buffers.allocate("o", DType.F32, spec.heads() * d)) {
            AttentionReference.attend(spec, HeadView.tokenMajor(qb.segment(), 0, spec.heads(), d),
                    HeadView.tokenMajor(kb.segment(), 0, spec.kvHeads(), d),
                    HeadView.tokenMajor(vb.segment(), 0, spec.kvHeads(), d),
                    HeadView.tokenMajor(ob.segment(), 0, spec.heads(), d), 1, n, null, 0, null, scale);
            return ob.toFloatArray();
        }
    }

    @Test
    void constantGroupsDecodeWithoutNaN() {
        for (Config c : CONFIGS) {
            int n = 2 * c.R + c.G + 1;
            int kvHeads = 1;
            AttentionSpec spec = AttentionSpec.of(4, kvHeads, c.d, false);
            float[] k = new float[n * c.d];
            float[] v = new float[n * c.d];
            java.util.Arrays.fill(k, -0.75f);
            java.util.Arrays.fill(v, 1.5f);
            float[] q = random(new SplittableRandom(5), 4 * c.d, 1);
            try (Buffer kb = Buffers.f32("k", k); Buffer vb = Buffers.f32("v", v);
                 KiviCache cache = new KiviCache(c.layout(), 1, kvHeads, c.d, n, KvPrecision.F16)) {
                cache.prefill(0, HeadView.tokenMajor(kb.segment(), 0, kvHeads, c.d),
                        HeadView.tokenMajor(vb.segment(), 0, kvHeads, c.d), n);
                float[] got = decode(cache, spec, 0, q, c.G);
                for (float x : got) {
                    // Every value is exactly 1.5 (s = 0, x^ = z), and the weights sum to l: 1.5 up to rounding.
                    assertEquals(1.5, x, 1.5 * (n + c.d) * U, c.toString());
                }
            }
        }
    }

    /**
     * The fused loop allocates nothing once compiled: rounds of calls until one allocates nothing (interpreted and C1
     * code box every vector, so the first rounds do), failing if that takes longer than the warm-up allowance.
     */
    @Test
    void accumulateAllocatesNothingOnceCompiled() {
        Config c = CONFIGS[0];
        int n = 3 * c.R + c.G + 5;
        int g = 4;
        SplittableRandom r = new SplittableRandom(3);
        try (Buffer kb = Buffers.f32("k", keys(r, n, 1, c.d)); Buffer vb = Buffers.f32("v", random(r, n * c.d, 2));
             KiviCache cache = new KiviCache(c.layout(), 1, 1, c.d, n, KvPrecision.F16)) {
            cache.prefill(0, HeadView.tokenMajor(kb.segment(), 0, 1, c.d), HeadView.tokenMajor(vb.segment(), 0, 1,
                    c.d), n);
            float[] q = random(r, g * c.d, 0.3);
            float[] st = new float[g * (c.d + 2)];
            float[] scratch = new float[cache.scratchFloats(n, g)];
            AllocationCheck.assertNoAllocation("kivi accumulate", 200, () -> {
                SoftmaxState.reset(st, 0, g, c.d);
                cache.accumulate(0, 0, 0, n, q, 0, g, st, 0, scratch);
            });
        }
    }
}
