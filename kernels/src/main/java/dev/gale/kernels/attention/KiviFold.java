package dev.gale.kernels.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fused KIVI decode loop (papers.md §5) on one <em>staged</em> group: {@link KiviCache} bulk-copies a group's
 * packed words, scales and zeros into the worker's scratch (words as raw float bits, reinterpreted in registers), and
 * everything here reads plain arrays. Per-element {@code MemorySegment} reads in the inner loops stopped being
 * inlined once a process had seen several segment kinds (the report runner), which cost more than the arithmetic.
 *
 * <p>Keys ({@code [d channels][G·B/32 words]}, tokens innermost): a group's scores are
 * {@code Σ_c (q_c·s_c)·code_{c,t} + Σ_c q_c·z_c}. Lanes are tokens: a channel's word is broadcast, shifted per lane
 * and masked to {@code L} codes, converted once and fed to four query rows (four FMAs per unpack), two token chunks
 * per pass so eight accumulators hide the FMA latency and each broadcast {@code q·s} feeds two FMAs. No horizontal
 * reductions: after the channel loop each accumulator holds {@code L} finished scores.
 *
 * <p>Values ({@code [t][d·B/32 words]}, channels innermost): each token's word is unpacked once, dequantized with
 * one FMA ({@code code·s + z}) and weighed into four rows, two channel chunks per pass (see {@link #valueFold} for
 * why not KIVI's factorised form here).
 *
 * <p>Rows left over after fours ({@code g} = 1 without GQA) keep several independent FMA chains per row (two chunks
 * and even/odd channels for keys, even/odd tokens for values).
 *
 * <p>With four rows the loops are not at the FMA bound, though an earlier version of this note said so: it was timed
 * against an FMA probe of eight chains, which is latency-bound on the AVX-512 Xeon (0.226 against 0.182 ns per FMA
 * with sixteen). From L1 an INT4 token at g = 4 takes about 18 ns of key scores and 21 of values, 2–3× its FMAs'
 * time: the shift, mask and conversion per chunk (and the permute of the wide unpack) share the FMA ports. Where a
 * chunk is two words ({@link #pairs}: INT4 at 512 bits, INT8 at 256) a 64-bit broadcast from memory replaces the
 * load and permute, and the lanes stay in the pair's order until a chunk leaves the registers: 1.04–1.09× on INT4
 * decode (one thread, both forms in one JVM, 4096 tokens, 2026-11-28). Dropping
 * the shift changed nothing, and a word-vector unpack with two operations per {@code L} codes (mask by position,
 * scale folded per accumulator, {@code q·s} permuted to the lanes' channels) was no faster in its loop and slower
 * overall, the per-group permutes and lane reductions it needs coming on top. Four value chunks per pass (sixteen
 * accumulators) ran boxed with the wide unpack, and for INT2 in a JVM that had run INT4 first. The softmax step is
 * {@link OnlineSoftmaxBlock#update}, once per staged block.
 */
final class KiviFold {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Long> LS = LongVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private final int G;
    private final int d;
    private final int levels;
    private final int perWord;
    private final int groupWords;
    private final int valueWords;
    private final int valueGroups;
    /** Shift of element {@code j} of a group within its word, {@code (j mod perWord)·B}. */
    private final int[] shifts;
    /** {@code L > perWord} (8-bit codes on 8 lanes): a chunk spans words, unpacked by a load and a permute. */
    private final boolean wide;
    /** For {@link #wide}: per chunk of {@code L} elements, lane → word relative to the chunk's first word. */
    private final VectorShuffle<Integer>[] spread;
    /**
     * A chunk is exactly two words (4-bit codes on 16 lanes, 8-bit on 8): the staged words are longs
     * ({@link KiviCache} copies them into a {@code long[]} at the same indices, halved), and a chunk's two words are one
     * 64-bit broadcast, which the load port does on its own, in place of a load and a lane permute. Lane {@code i} then
     * holds element {@code (i mod 2)·perWord + i/2} of the chunk: the key scores and the value accumulators live in
     * that order, put back ({@link #unzip}) when a chunk's scores are stored or its outputs leave, and taken
     * ({@link #zip}) when the outputs are loaded. Each lane's sums are the same as in the word order, so are the bits.
     */
    final boolean pairs;
    /** For {@link #pairs}: lane {@code i}'s shift, {@code (i/2)·B}. */
    private final int[] pairShifts;
    /** For {@link #pairs}: chunk order → element order. */
    private final VectorShuffle<Float> unzip;
    /** For {@link #pairs}: element order → chunk order. */
    private final VectorShuffle<Float> zip;

    @SuppressWarnings("unchecked")
    KiviFold(int bits, int group, int d) {
        this.G = group;
        this.d = d;
        this.levels = (1 << bits) - 1;
        this.perWord = 32 / bits;
        this.groupWords = group * bits / 32;
        this.valueWords = d * bits / 32;
        this.valueGroups = d / group;
        shifts = new int[Math.max(group, L)];
        for (int j = 0; j < shifts.length; j++) {
            shifts[j] = (j % perWord) * bits;
        }
        wide = L > perWord;
        pairs = L == 2 * perWord;
        pairShifts = new int[L];
        int[] un = new int[L];
        int[] to = new int[L];
        for (int i = 0; i < L; i++) {
            pairShifts[i] = (i / 2) * bits;
            to[i] = pairs ? (i % 2) * perWord + i / 2 : i;
            un[to[i]] = i;
        }
        unzip = VectorShuffle.fromArray(F, un, 0);
        zip = VectorShuffle.fromArray(F, to, 0);
        int chunks = Math.max(1, group / L);
        spread = new VectorShuffle[chunks];
        int[] idx = new int[L];
        for (int k = 0; k < chunks; k++) {
            for (int i = 0; i < L; i++) {
                idx[i] = (k * L + i) / perWord - (k * L) / perWord;
            }
            spread[k] = VectorShuffle.fromArray(I, idx, 0);
        }
    }

    /**
     * Floats of {@code m} staged key groups: their words {@code [m][d][G·B/32]} (then {@code L} floats of padding
     * for a wide load), scales {@code [m][d]}, zeros {@code [m][d]}: the cache's layout, so three bulk copies.
     */
    int keyStage(int m) {
        return m * (d * groupWords + 2 * d) + L;
    }

    /** Floats of {@code m·G} staged value tokens: words {@code [t][d·B/32]}, padding, scales, zeros {@code [t][d/G]}. */
    int valueStage(int m) {
        return m * G * (valueWords + 2 * valueGroups) + L;
    }

    /**
     * Floats of the score ({@code g} rows of {@code m·G}: a staged block's scores, row by row), {@code q·s} and
     * {@code q·z} scratch for {@code g} rows.
     */
    int workFloats(int g, int m) {
        // even, so the staged words after it start on a long (pairs)
        return (m * g * G + g * d + g + 1) & ~1;
    }

    /**
     * {@code L} codes of a staged word run: element chunk with shifts {@code sh} starting at word {@code at} (of
     * {@code s}, or for {@code pairs} of {@code w}, whose long {@code at/2} holds words at and at + 1).
     */
    private static FloatVector unpack(float[] s, long[] w, int at, IntVector sh, VectorShuffle<Integer> sp,
            boolean wide, boolean pairs, int mask) {
        IntVector v = pairs ? LongVector.broadcast(LS, w[at >> 1]).reinterpretAsInts()
                : wide ? FloatVector.fromArray(F, s, at).reinterpretAsInts().rearrange(sp)
                : FloatVector.broadcast(F, s[at]).reinterpretAsInts();
        return (FloatVector) v.lanewise(VectorOperators.LSHR, sh).and(mask).convert(VectorOperators.I2F, 0);
    }

    /**
     * Scores of a whole staged key group (words at {@code s[ks …]}, scales and zeros at {@code s[scale …]},
     * {@code s[zero …]}) for the {@code g} rows at {@code q[qOff …]}, into {@code s[sc + r·stride + j]}. Uses
     * {@code s[qs …]} ({@code g·d}) and {@code s[qz …]} ({@code g}) for {@code q·s} and {@code q·z}.
     */
    void keyScores(float[] s, long[] w, int ks, int scale, int zero, float[] q, int qOff, int g, int sc, int stride,
            int qs, int qz) {
        for (int r = 0; r < g; r++) {
            FloatVector za = FloatVector.zero(F);
            int qr = qOff + r * d;
            for (int c = 0; c < d; c += L) {
                FloatVector qv = FloatVector.fromArray(F, q, qr + c);
                qv.mul(FloatVector.fromArray(F, s, scale + c)).intoArray(s, qs + r * d + c);
                za = qv.fma(FloatVector.fromArray(F, s, zero + c), za);
            }
            s[qz + r] = za.reduceLanes(VectorOperators.ADD);
        }
        int r = 0;
        for (; r + 4 <= g; r += 4) {
            keys4(s, w, ks, qs + r * d, qz + r, sc + r * stride, stride);
        }
        for (; r < g; r++) {
            keys1(s, w, ks, qs + r * d, qz + r, sc + r * stride);
        }
    }

    // The row loops are methods of their own. In one method with both loops hot (a process decoding with g = 4, then
    // g = 1, as the bench table does) the 8/8-head decode ran at 340 ms against 66 ms split, the signature of Vector
    // API calls left un-inlined (boxed) once the method outgrew C2's inlining budget.

    /**
     * Scores of four rows ({@code q·s} at {@code s[qs …]}, {@code q·z} at {@code s[qz …]}) into
     * {@code s[sc …]}, rows {@code stride} apart.
     */
    private void keys4(float[] s, long[] w, int ks, int qs, int qz, int sc, int stride) {
        boolean wide = this.wide;
        boolean pairs = this.pairs;
        int[] sh = pairs ? pairShifts : shifts;
        int mask = levels;
        int gw = groupWords;
        int chunks = G / L;
        int q0 = qs;
        int q1 = q0 + d;
        int q2 = q1 + d;
        int q3 = q2 + d;
        for (int k = 0; k < chunks; k += 2) {
            // An odd last chunk pairs with itself (its second half is then stored twice, same values).
            int k1 = Math.min(k + 1, chunks - 1);
            IntVector sh0 = IntVector.fromArray(I, sh, pairs ? 0 : k * L);
            IntVector sh1 = IntVector.fromArray(I, sh, pairs ? 0 : k1 * L);
            VectorShuffle<Integer> sp0 = spread[k];
            VectorShuffle<Integer> sp1 = spread[k1];
            int w0 = ks + (k * L) / perWord;
            int w1 = ks + (k1 * L) / perWord;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int c = 0; c < d; c++) {
                FloatVector x = unpack(s, w, w0 + c * gw, sh0, sp0, wide, pairs, mask);
                FloatVector y = unpack(s, w, w1 + c * gw, sh1, sp1, wide, pairs, mask);
                FloatVector qv = FloatVector.broadcast(F, s[q0 + c]);
                a0 = x.fma(qv, a0);
                b0 = y.fma(qv, b0);
                qv = FloatVector.broadcast(F, s[q1 + c]);
                a1 = x.fma(qv, a1);
                b1 = y.fma(qv, b1);
                qv = FloatVector.broadcast(F, s[q2 + c]);
                a2 = x.fma(qv, a2);
                b2 = y.fma(qv, b2);
                qv = FloatVector.broadcast(F, s[q3 + c]);
                a3 = x.fma(qv, a3);
                b3 = y.fma(qv, b3);
            }
            int o = sc + k * L;
            int p = sc + k1 * L;
            if (pairs) {
                a0 = a0.rearrange(unzip);
                a1 = a1.rearrange(unzip);
                a2 = a2.rearrange(unzip);
                a3 = a3.rearrange(unzip);
                b0 = b0.rearrange(unzip);
                b1 = b1.rearrange(unzip);
                b2 = b2.rearrange(unzip);
                b3 = b3.rearrange(unzip);
            }
            a0.add(s[qz]).intoArray(s, o);
            a1.add(s[qz + 1]).intoArray(s, o + stride);
            a2.add(s[qz + 2]).intoArray(s, o + 2 * stride);
            a3.add(s[qz + 3]).intoArray(s, o + 3 * stride);
            b0.add(s[qz]).intoArray(s, p);
            b1.add(s[qz + 1]).intoArray(s, p + stride);
            b2.add(s[qz + 2]).intoArray(s, p + 2 * stride);
            b3.add(s[qz + 3]).intoArray(s, p + 3 * stride);
        }
    }

    /** Scores of one row. */
    private void keys1(float[] s, long[] w, int ks, int qs, int qz, int sc) {
        boolean wide = this.wide;
        boolean pairs = this.pairs;
        int[] sh = pairs ? pairShifts : shifts;
        int mask = levels;
        int gw = groupWords;
        int chunks = G / L;
        int q0 = qs;
        for (int k = 0; k < chunks; k += 2) {
            int k1 = Math.min(k + 1, chunks - 1);
            IntVector sh0 = IntVector.fromArray(I, sh, pairs ? 0 : k * L);
            IntVector sh1 = IntVector.fromArray(I, sh, pairs ? 0 : k1 * L);
            VectorShuffle<Integer> sp0 = spread[k];
            VectorShuffle<Integer> sp1 = spread[k1];
            int w0 = ks + (k * L) / perWord;
            int w1 = ks + (k1 * L) / perWord;
            // Even and odd channels in separate accumulators: four independent chains for one row.
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0, b0 = a0, b1 = a0;
            for (int c = 0; c < d; c += 2) {
                FloatVector qv = FloatVector.broadcast(F, s[q0 + c]);
                a0 = unpack(s, w, w0 + c * gw, sh0, sp0, wide, pairs, mask).fma(qv, a0);
                b0 = unpack(s, w, w1 + c * gw, sh1, sp1, wide, pairs, mask).fma(qv, b0);
                qv = FloatVector.broadcast(F, s[q0 + c + 1]);
                a1 = unpack(s, w, w0 + (c + 1) * gw, sh0, sp0, wide, pairs, mask).fma(qv, a1);
                b1 = unpack(s, w, w1 + (c + 1) * gw, sh1, sp1, wide, pairs, mask).fma(qv, b1);
            }
            a0 = a0.add(a1);
            b0 = b0.add(b1);
            if (pairs) {
                a0 = a0.rearrange(unzip);
                b0 = b0.rearrange(unzip);
            }
            a0.add(s[qz]).intoArray(s, sc + k * L);
            b0.add(s[qz]).intoArray(s, sc + k1 * L);
        }
    }

    /**
     * {@code Õ_r += Σ_t p_{r,t}·v̂_t} over {@code n ≤ G} staged value tokens (words at {@code s[vs …]}, scales and
     * zeros {@code [t][d/G]} at {@code s[scale …]}, {@code s[zero …]}), with the probabilities at
     * {@code s[sc + r·stride + t]}. Each unpacked vector is dequantized once, {@code code·s + z} (one FMA), then
     * weighs into the rows: KIVI's factorised form {@code Σ_t (p_t·s_t)·code_t + Σ_t p_t·z_t} saves that FMA but
     * needs {@code p·s} per (row, token, group), whose products and the transposition of the {@code [t][d/G]} scales
     * they need cost about four times as much here (measured 410 against about 100 ns per group of 32 tokens).
     */
    void valueFold(float[] s, long[] w, int vs, int scale, int zero, int n, int g, float[] st, int stOff, int sc,
            int stride) {
        int r = 0;
        for (; r + 4 <= g; r += 4) {
            weigh4(s, w, vs, scale, zero, n, st, stOff + r * (d + 2), sc + r * stride, stride);
        }
        for (; r < g; r++) {
            weigh1(s, w, vs, scale, zero, n, st, stOff + r * (d + 2), sc + r * stride);
        }
    }

    /**
     * {@link #valueFold} for four rows: states at {@code st[stOff …]}, probabilities at {@code s[p …]}, rows
     * {@code stride} apart.
     */
    private void weigh4(float[] s, long[] w, int vs, int scale, int zero, int n, float[] st, int stOff, int p,
            int stride) {
        int vg = valueGroups;
        boolean wide = this.wide;
        boolean pairs = this.pairs;
        int[] sh = pairs ? pairShifts : shifts;
        int mask = levels;
        int vw = valueWords;
        int st1 = d + 2;
        int o = stOff + SoftmaxState.O;
        int p1 = p + stride;
        int p2 = p1 + stride;
        int p3 = p2 + stride;
        int chunks = d / L;
        // Channel chunks in pairs when a pair stays inside one channel group (the same scale and zero for both).
        int step = G % (2 * L) == 0 ? 2 : 1;
        for (int k = 0; k < chunks; k += step) {
            int k1 = k + step - 1;
            int e0 = k * L;
            int e1 = k1 * L;
            int cg = e0 / G;
            IntVector sh0 = IntVector.fromArray(I, sh, pairs ? 0 : e0 % G);
            IntVector sh1 = IntVector.fromArray(I, sh, pairs ? 0 : e1 % G);
            VectorShuffle<Integer> sp0 = spread[(e0 % G) / L];
            VectorShuffle<Integer> sp1 = spread[(e1 % G) / L];
            int w0 = vs + e0 / perWord;
            int w1 = vs + e1 / perWord;
            FloatVector a0 = FloatVector.fromArray(F, st, o + e0);
            FloatVector a1 = FloatVector.fromArray(F, st, o + st1 + e0);
            FloatVector a2 = FloatVector.fromArray(F, st, o + 2 * st1 + e0);
            FloatVector a3 = FloatVector.fromArray(F, st, o + 3 * st1 + e0);
            if (pairs) {
                a0 = a0.rearrange(zip);
                a1 = a1.rearrange(zip);
                a2 = a2.rearrange(zip);
                a3 = a3.rearrange(zip);
            }
            FloatVector b0 = FloatVector.zero(F);
            FloatVector b1 = b0, b2 = b0, b3 = b0;
            for (int t = 0; t < n; t++) {
                FloatVector sv = FloatVector.broadcast(F, s[scale + t * vg + cg]);
                FloatVector zv = FloatVector.broadcast(F, s[zero + t * vg + cg]);
                FloatVector x = unpack(s, w, w0 + t * vw, sh0, sp0, wide, pairs, mask).fma(sv, zv);
                FloatVector y = unpack(s, w, w1 + t * vw, sh1, sp1, wide, pairs, mask).fma(sv, zv);
                FloatVector pv = FloatVector.broadcast(F, s[p + t]);
                a0 = x.fma(pv, a0);
                b0 = y.fma(pv, b0);
                pv = FloatVector.broadcast(F, s[p1 + t]);
                a1 = x.fma(pv, a1);
                b1 = y.fma(pv, b1);
                pv = FloatVector.broadcast(F, s[p2 + t]);
                a2 = x.fma(pv, a2);
                b2 = y.fma(pv, b2);
                pv = FloatVector.broadcast(F, s[p3 + t]);
                a3 = x.fma(pv, a3);
                b3 = y.fma(pv, b3);
            }
            if (pairs) {
                a0 = a0.rearrange(unzip);
                a1 = a1.rearrange(unzip);
                a2 = a2.rearrange(unzip);
                a3 = a3.rearrange(unzip);
                b0 = b0.rearrange(unzip);
                b1 = b1.rearrange(unzip);
                b2 = b2.rearrange(unzip);
                b3 = b3.rearrange(unzip);
            }
            a0.intoArray(st, o + e0);
            a1.intoArray(st, o + st1 + e0);
            a2.intoArray(st, o + 2 * st1 + e0);
            a3.intoArray(st, o + 3 * st1 + e0);
            if (k1 != k) {
                b0.add(FloatVector.fromArray(F, st, o + e1)).intoArray(st, o + e1);
                b1.add(FloatVector.fromArray(F, st, o + st1 + e1)).intoArray(st, o + st1 + e1);
                b2.add(FloatVector.fromArray(F, st, o + 2 * st1 + e1)).intoArray(st, o + 2 * st1 + e1);
                b3.add(FloatVector.fromArray(F, st, o + 3 * st1 + e1)).intoArray(st, o + 3 * st1 + e1);
            }
        }
    }

    /** {@link #valueFold} for one row. */
    private void weigh1(float[] s, long[] w, int vs, int scale, int zero, int n, float[] st, int stOff, int p) {
        int vg = valueGroups;
        boolean wide = this.wide;
        boolean pairs = this.pairs;
        int[] shs = pairs ? pairShifts : shifts;
        int mask = levels;
        int vw = valueWords;
        int o = stOff + SoftmaxState.O;
        for (int e0 = 0; e0 < d; e0 += L) {
            int cg = e0 / G;
            IntVector sh = IntVector.fromArray(I, shs, pairs ? 0 : e0 % G);
            VectorShuffle<Integer> sp = spread[(e0 % G) / L];
            int w0 = vs + e0 / perWord;
            // Even and odd tokens in separate accumulators: two independent chains.
            FloatVector a0 = FloatVector.fromArray(F, st, o + e0);
            if (pairs) {
                a0 = a0.rearrange(zip);
            }
            FloatVector a1 = FloatVector.zero(F);
            int t = 0;
            for (; t + 2 <= n; t += 2) {
                int u = scale + t * vg + cg;
                int z = zero + t * vg + cg;
                FloatVector x = unpack(s, w, w0 + t * vw, sh, sp, wide, pairs, mask)
                        .fma(FloatVector.broadcast(F, s[u]), FloatVector.broadcast(F, s[z]));
                FloatVector y = unpack(s, w, w0 + (t + 1) * vw, sh, sp, wide, pairs, mask)
                        .fma(FloatVector.broadcast(F, s[u + vg]), FloatVector.broadcast(F, s[z + vg]));
                a0 = x.fma(FloatVector.broadcast(F, s[p + t]), a0);
                a1 = y.fma(FloatVector.broadcast(F, s[p + t + 1]), a1);
            }
            if (t < n) {
                int u = t * vg + cg;
                FloatVector x = unpack(s, w, w0 + t * vw, sh, sp, wide, pairs, mask)
                        .fma(FloatVector.broadcast(F, s[scale + u]), FloatVector.broadcast(F, s[zero + u]));
                a0 = x.fma(FloatVector.broadcast(F, s[p + t]), a0);
            }
            a0 = a0.add(a1);
            if (pairs) {
                a0 = a0.rearrange(unzip);
            }
            a0.intoArray(st, o + e0);
        }
    }
}
