package dev.gale.kernels.attention;

import dev.gale.kernels.VectorRegisters;
import dev.gale.kernels.activation.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The decode inner loop on one staged block: {@code n} keys and values already widened to F32 in a worker's scratch
 * ({@code [n][d]} each), folded into the {@code g} online-softmax states of one GQA group (papers.md §0, incremental
 * form). Every {@link DecodeKv} can share it: a cache decodes (F16 widening, dequantisation) one block into scratch,
 * where it stays in L1/L2, and this loop reads it {@code g} times at cache speed instead of decoding each value once
 * per query row.
 *
 * <p>Three steps, each vectorised over the head dimension or the block: scores {@code s = q·k} (queries pre-scaled;
 * four rows share each key load), the online-softmax update per row (block max, {@link VectorMath#exp} over the
 * block, rescale of the accumulator by {@code exp(m − m')}), then {@code Õ += P·V} with four rows' accumulators in
 * registers per four slices of {@code d} (two with 16 vector registers), so each value vector is loaded once per four
 * rows; rows left over take eight slices per pass instead. Allocates nothing.
 */
public final class OnlineSoftmaxBlock {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private OnlineSoftmaxBlock() {
    }

    /** Scratch floats for a block of {@code n} tokens and {@code g} rows: K, V and the score rows. */
    public static int scratchFloats(int n, int g, int d) {
        return 2 * n * d + g * n;
    }

    /**
     * Folds keys {@code k[kOff + j·d …]} and values {@code v[vOff + j·d …]}, {@code j < n}, into the states at
     * {@code st[stOff …]} of the {@code g} pre-scaled query rows at {@code q[qOff …]}; {@code s[sOff …]} holds
     * {@code g·n} floats of score scratch.
     */
    public static void fold(float[] q, int qOff, int g, int d, float[] k, int kOff, float[] v, int vOff, int n,
            float[] s, int sOff, float[] st, int stOff) {
        if (n <= 0) {
            return;
        }
        scores(q, qOff, g, d, k, kOff, n, s, sOff, n);
        for (int r = 0; r < g; r++) {
            update(s, sOff + r * n, n, st, stOff + r * (d + 2), d);
        }
        pv(s, sOff, n, n, g, v, vOff, d, st, stOff);
    }

    /**
     * {@code Õ_r += Σ_j p_rj·v_j} for the {@code g} rows of a group, row {@code r}'s {@code n} probabilities at
     * {@code p[pOff + r·stride …]}: rows in fours through {@link #pv4}, the rest one by one.
     */
    static void pv(float[] p, int pOff, int stride, int n, int g, float[] v, int vOff, int d, float[] st,
            int stOff) {
        int r = 0;
        for (; r + 4 <= g; r += 4) {
            pv4(p, pOff + r * stride, stride, n, v, vOff, d, st, stOff + r * (d + 2));
        }
        for (; r < g; r++) {
            pv1(p, pOff + r * stride, n, v, vOff, d, st, stOff + r * (d + 2));
        }
    }

    /**
     * {@code s[sOff + r·stride + j] = q_r · k_j}. Rows in fours go against two keys at a time through
     * {@link TreeScores#fourRows} (each key load shared by the four rows, one tree reduction per eight scores: 12.9
     * against 15.4 ns per token for a horizontal sum per score, at d = 128 from L1); a row left over (all of them when
     * {@code g < 4}, e.g. without GQA) goes against eight keys at a time through {@link TreeScores#row}. Where the
     * trees do not apply (other vector widths, head dims not whole vectors) and for keys past the last tile, the
     * generic loop takes a horizontal sum per score. One row with one key per step is a chain of dependent FMAs that
     * ran at about a quarter of the tree's speed.
     */
    static void scores(float[] q, int qOff, int g, int d, float[] k, int kOff, int n, float[] s, int sOff,
            int stride) {
        int fours = g - g % 4;
        for (int r = 0; r < fours; r += 4) {
            int q0 = qOff + r * d;
            int s0 = sOff + r * stride;
            int done = TreeScores.applies(d) ? TreeScores.fourRows(q, q0, d, k, kOff, n, s, s0, stride) : 0;
            scoresGeneric(q, q0, 4, d, k, kOff, done, n, s, s0, stride);
        }
        for (int r = fours; r < g; r++) {
            int q0 = qOff + r * d;
            int s0 = sOff + r * stride;
            int done = TreeScores.applies(d) ? TreeScores.row(q, q0, d, k, kOff, n, s, s0) : 0;
            scoresGeneric(q, q0, 1, d, k, kOff, done, n, s, s0, stride);
        }
    }

    /**
     * Scores of {@code g} rows against keys {@code [from, to)}: four rows per key load, two accumulators per row, one
     * horizontal sum per score; row {@code r}'s scores go to {@code s[sOff + r·stride + j]}.
     */
    private static void scoresGeneric(float[] q, int qOff, int g, int d, float[] k, int kOff, int from, int to,
            float[] s, int sOff, int stride) {
        int dv = d - d % L;
        int r = 0;
        for (; r + 4 <= g; r += 4) {
            int q0 = qOff + r * d;
            int q1 = q0 + d;
            int q2 = q1 + d;
            int q3 = q2 + d;
            int j = from;
            for (; j + 2 <= to; j += 2) {
                // Two keys per step: eight independent accumulators, each q load feeding two FMAs.
                int ka = kOff + j * d;
                int kc = ka + d;
                FloatVector a0 = FloatVector.zero(F);
                FloatVector a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
                for (int e = 0; e < dv; e += L) {
                    FloatVector x = FloatVector.fromArray(F, k, ka + e);
                    FloatVector y = FloatVector.fromArray(F, k, kc + e);
                    FloatVector w = FloatVector.fromArray(F, q, q0 + e);
                    a0 = w.fma(x, a0);
                    c0 = w.fma(y, c0);
                    w = FloatVector.fromArray(F, q, q1 + e);
                    a1 = w.fma(x, a1);
                    c1 = w.fma(y, c1);
                    w = FloatVector.fromArray(F, q, q2 + e);
                    a2 = w.fma(x, a2);
                    c2 = w.fma(y, c2);
                    w = FloatVector.fromArray(F, q, q3 + e);
                    a3 = w.fma(x, a3);
                    c3 = w.fma(y, c3);
                }
                float s0 = a0.reduceLanes(VectorOperators.ADD), t0 = c0.reduceLanes(VectorOperators.ADD);
                float s1 = a1.reduceLanes(VectorOperators.ADD), t1 = c1.reduceLanes(VectorOperators.ADD);
                float s2 = a2.reduceLanes(VectorOperators.ADD), t2 = c2.reduceLanes(VectorOperators.ADD);
                float s3 = a3.reduceLanes(VectorOperators.ADD), t3 = c3.reduceLanes(VectorOperators.ADD);
                for (int e = dv; e < d; e++) {
                    float x = k[ka + e];
                    float y = k[kc + e];
                    s0 += q[q0 + e] * x;
                    t0 += q[q0 + e] * y;
                    s1 += q[q1 + e] * x;
                    t1 += q[q1 + e] * y;
                    s2 += q[q2 + e] * x;
                    t2 += q[q2 + e] * y;
                    s3 += q[q3 + e] * x;
                    t3 += q[q3 + e] * y;
                }
                int o = sOff + r * stride + j;
                s[o] = s0;
                s[o + 1] = t0;
                s[o + stride] = s1;
                s[o + stride + 1] = t1;
                s[o + 2 * stride] = s2;
                s[o + 2 * stride + 1] = t2;
                s[o + 3 * stride] = s3;
                s[o + 3 * stride + 1] = t3;
            }
            for (; j < to; j++) {
                int kb = kOff + j * d;
                FloatVector a0 = FloatVector.zero(F);
                FloatVector a1 = a0, a2 = a0, a3 = a0;
                for (int e = 0; e < dv; e += L) {
                    FloatVector kv = FloatVector.fromArray(F, k, kb + e);
                    a0 = FloatVector.fromArray(F, q, q0 + e).fma(kv, a0);
                    a1 = FloatVector.fromArray(F, q, q1 + e).fma(kv, a1);
                    a2 = FloatVector.fromArray(F, q, q2 + e).fma(kv, a2);
                    a3 = FloatVector.fromArray(F, q, q3 + e).fma(kv, a3);
                }
                float s0 = a0.reduceLanes(VectorOperators.ADD);
                float s1 = a1.reduceLanes(VectorOperators.ADD);
                float s2 = a2.reduceLanes(VectorOperators.ADD);
                float s3 = a3.reduceLanes(VectorOperators.ADD);
                for (int e = dv; e < d; e++) {
                    float ke = k[kb + e];
                    s0 += q[q0 + e] * ke;
                    s1 += q[q1 + e] * ke;
                    s2 += q[q2 + e] * ke;
                    s3 += q[q3 + e] * ke;
                }
                int o = sOff + r * stride + j;
                s[o] = s0;
                s[o + stride] = s1;
                s[o + 2 * stride] = s2;
                s[o + 3 * stride] = s3;
            }
        }
        for (; r < g; r++) {
            int q0 = qOff + r * d;
            for (int j = from; j < to; j++) {
                int kb = kOff + j * d;
                FloatVector a0 = FloatVector.zero(F);
                FloatVector a1 = a0;
                int e = 0;
                for (; e + 2 * L <= dv; e += 2 * L) {
                    a0 = FloatVector.fromArray(F, q, q0 + e).fma(FloatVector.fromArray(F, k, kb + e), a0);
                    a1 = FloatVector.fromArray(F, q, q0 + e + L).fma(FloatVector.fromArray(F, k, kb + e + L), a1);
                }
                if (e < dv) {
                    a0 = FloatVector.fromArray(F, q, q0 + e).fma(FloatVector.fromArray(F, k, kb + e), a0);
                }
                float s0 = a0.add(a1).reduceLanes(VectorOperators.ADD);
                for (e = dv; e < d; e++) {
                    s0 += q[q0 + e] * k[kb + e];
                }
                s[sOff + r * stride + j] = s0;
            }
        }
    }

    /**
     * The online-softmax step of one row: {@code m' = max(m, max s)}, {@code p = exp(s − m')} in place,
     * {@code l = exp(m − m')·l + Σp}, {@code Õ *= exp(m − m')}. A block whose scores are all −∞ leaves the state alone
     * (its p are zeros); NaN scores propagate.
     */
    static void update(float[] s, int off, int n, float[] st, int stOff, int d) {
        int nv = n - n % L;
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j < nv; j += L) {
            mv = mv.max(FloatVector.fromArray(F, s, off + j));
        }
        float mx = mv.reduceLanes(VectorOperators.MAX);
        for (; j < n; j++) {
            mx = Math.max(mx, s[off + j]);
        }
        float m = st[stOff + SoftmaxState.M];
        float mNew = Math.max(m, mx);
        if (mNew == Float.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(s, off, off + n, 0f);
            return;
        }
        FloatVector sum = FloatVector.zero(F);
        for (j = 0; j < nv; j += L) {
            FloatVector p = VectorMath.exp(FloatVector.fromArray(F, s, off + j).sub(mNew));
            p.intoArray(s, off + j);
            sum = sum.add(p);
        }
        float total = sum.reduceLanes(VectorOperators.ADD);
        for (j = nv; j < n; j++) {
            float p = VectorMath.exp(s[off + j] - mNew);
            s[off + j] = p;
            total += p;
        }
        float c = m == Float.NEGATIVE_INFINITY ? 0f : VectorMath.exp(m - mNew);
        st[stOff + SoftmaxState.M] = mNew;
        st[stOff + SoftmaxState.L] = c * st[stOff + SoftmaxState.L] + total;
        if (c != 1f) {
            int o = stOff + SoftmaxState.O;
            int dv = d - d % L;
            int e = 0;
            for (; e < dv; e += L) {
                FloatVector.fromArray(F, st, o + e).mul(c).intoArray(st, o + e);
            }
            for (; e < d; e++) {
                st[o + e] *= c;
            }
        }
    }

    /**
     * {@code Õ_r += Σ_j p_rj·v_j} for four rows. With 32 vector registers ({@link VectorRegisters#WIDE}) four slices
     * of d per pass over the block: sixteen accumulators, each value load feeding four FMAs and each probability
     * broadcast four; 1.28× the two-slice pass here (13.9 against 17.8 ns per token from L1). With 16 registers (AVX2)
     * sixteen accumulators spill (the four-slice pass measured 1.0–1.2× slower there), so the third and fourth slices
     * sit in {@code if (WIDE)} blocks that C2 removes, leaving the two-slice pass. Slices past the last whole vector
     * repeat the last one; both copies start from the same accumulator and add the same terms, so storing both is
     * harmless. A tail of d that is not a whole vector goes through {@link #pvTail}.
     */
    static void pv4(float[] p, int pOff, int stride, int n, float[] v, int vOff, int d, float[] st, int stOff) {
        final boolean wide = VectorRegisters.WIDE;
        int o0 = stOff + SoftmaxState.O;
        int o1 = o0 + d + 2;
        int o2 = o1 + d + 2;
        int o3 = o2 + d + 2;
        int p1 = pOff + stride;
        int p2 = p1 + stride;
        int p3 = p2 + stride;
        int dv = d - d % L;
        for (int e = 0; e < dv; e += wide ? 4 * L : 2 * L) {
            int f = Math.min(e + L, dv - L);
            int h = Math.min(e + 2 * L, dv - L);
            int i = Math.min(e + 3 * L, dv - L);
            FloatVector a0 = FloatVector.fromArray(F, st, o0 + e), b0 = FloatVector.fromArray(F, st, o0 + f);
            FloatVector a1 = FloatVector.fromArray(F, st, o1 + e), b1 = FloatVector.fromArray(F, st, o1 + f);
            FloatVector a2 = FloatVector.fromArray(F, st, o2 + e), b2 = FloatVector.fromArray(F, st, o2 + f);
            FloatVector a3 = FloatVector.fromArray(F, st, o3 + e), b3 = FloatVector.fromArray(F, st, o3 + f);
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0, e0 = a0, e1 = a0, e2 = a0, e3 = a0;
            if (wide) {
                c0 = FloatVector.fromArray(F, st, o0 + h);
                e0 = FloatVector.fromArray(F, st, o0 + i);
                c1 = FloatVector.fromArray(F, st, o1 + h);
                e1 = FloatVector.fromArray(F, st, o1 + i);
                c2 = FloatVector.fromArray(F, st, o2 + h);
                e2 = FloatVector.fromArray(F, st, o2 + i);
                c3 = FloatVector.fromArray(F, st, o3 + h);
                e3 = FloatVector.fromArray(F, st, o3 + i);
            }
            for (int j = 0; j < n; j++) {
                int b = vOff + j * d;
                FloatVector x = FloatVector.fromArray(F, v, b + e);
                FloatVector y = FloatVector.fromArray(F, v, b + f);
                FloatVector w0 = FloatVector.broadcast(F, p[pOff + j]);
                FloatVector w1 = FloatVector.broadcast(F, p[p1 + j]);
                FloatVector w2 = FloatVector.broadcast(F, p[p2 + j]);
                FloatVector w3 = FloatVector.broadcast(F, p[p3 + j]);
                a0 = x.fma(w0, a0);
                b0 = y.fma(w0, b0);
                a1 = x.fma(w1, a1);
                b1 = y.fma(w1, b1);
                a2 = x.fma(w2, a2);
                b2 = y.fma(w2, b2);
                a3 = x.fma(w3, a3);
                b3 = y.fma(w3, b3);
                if (wide) {
                    FloatVector z = FloatVector.fromArray(F, v, b + h);
                    FloatVector u = FloatVector.fromArray(F, v, b + i);
                    c0 = z.fma(w0, c0);
                    e0 = u.fma(w0, e0);
                    c1 = z.fma(w1, c1);
                    e1 = u.fma(w1, e1);
                    c2 = z.fma(w2, c2);
                    e2 = u.fma(w2, e2);
                    c3 = z.fma(w3, c3);
                    e3 = u.fma(w3, e3);
                }
            }
            a0.intoArray(st, o0 + e);
            a1.intoArray(st, o1 + e);
            a2.intoArray(st, o2 + e);
            a3.intoArray(st, o3 + e);
            b0.intoArray(st, o0 + f);
            b1.intoArray(st, o1 + f);
            b2.intoArray(st, o2 + f);
            b3.intoArray(st, o3 + f);
            if (wide) {
                c0.intoArray(st, o0 + h);
                e0.intoArray(st, o0 + i);
                c1.intoArray(st, o1 + h);
                e1.intoArray(st, o1 + i);
                c2.intoArray(st, o2 + h);
                e2.intoArray(st, o2 + i);
                c3.intoArray(st, o3 + h);
                e3.intoArray(st, o3 + i);
            }
        }
        pvTail(p, pOff, stride, n, v, vOff, d, st, o0, dv);
    }

    /** Channels {@code [dv, d)} of four rows' {@code Õ} (states {@code d + 2} apart from {@code o0}), in scalars. */
    private static void pvTail(float[] p, int pOff, int stride, int n, float[] v, int vOff, int d, float[] st, int o0,
            int dv) {
        int o1 = o0 + d + 2;
        int o2 = o1 + d + 2;
        int o3 = o2 + d + 2;
        int p1 = pOff + stride;
        int p2 = p1 + stride;
        int p3 = p2 + stride;
        for (int e = dv; e < d; e++) {
            float a0 = st[o0 + e], a1 = st[o1 + e], a2 = st[o2 + e], a3 = st[o3 + e];
            for (int j = 0; j < n; j++) {
                float ve = v[vOff + j * d + e];
                a0 += p[pOff + j] * ve;
                a1 += p[p1 + j] * ve;
                a2 += p[p2 + j] * ve;
                a3 += p[p3 + j] * ve;
            }
            st[o0 + e] = a0;
            st[o1 + e] = a1;
            st[o2 + e] = a2;
            st[o3 + e] = a3;
        }
    }

    /**
     * {@code Õ += Σ_j p_j·v_j} for one row, token by token over eight-vector slices of {@code d}: each value row is
     * read front to back (whole cache lines, in order) into eight accumulators that stay in registers for the whole
     * block. The slice-by-slice order (one accumulator, every token, next slice) was 2–3× slower here: it strides
     * through the block once per slice.
     */
    static void pv1(float[] p, int pOff, int n, float[] v, int vOff, int d, float[] st, int stOff) {
        int o = stOff + SoftmaxState.O;
        int e = 0;
        for (; e + 8 * L <= d; e += 8 * L) {
            int c = o + e;
            FloatVector a0 = FloatVector.fromArray(F, st, c);
            FloatVector a1 = FloatVector.fromArray(F, st, c + L);
            FloatVector a2 = FloatVector.fromArray(F, st, c + 2 * L);
            FloatVector a3 = FloatVector.fromArray(F, st, c + 3 * L);
            FloatVector a4 = FloatVector.fromArray(F, st, c + 4 * L);
            FloatVector a5 = FloatVector.fromArray(F, st, c + 5 * L);
            FloatVector a6 = FloatVector.fromArray(F, st, c + 6 * L);
            FloatVector a7 = FloatVector.fromArray(F, st, c + 7 * L);
            for (int j = 0; j < n; j++) {
                FloatVector w = FloatVector.broadcast(F, p[pOff + j]);
                int b = vOff + j * d + e;
                a0 = FloatVector.fromArray(F, v, b).fma(w, a0);
                a1 = FloatVector.fromArray(F, v, b + L).fma(w, a1);
                a2 = FloatVector.fromArray(F, v, b + 2 * L).fma(w, a2);
                a3 = FloatVector.fromArray(F, v, b + 3 * L).fma(w, a3);
                a4 = FloatVector.fromArray(F, v, b + 4 * L).fma(w, a4);
                a5 = FloatVector.fromArray(F, v, b + 5 * L).fma(w, a5);
                a6 = FloatVector.fromArray(F, v, b + 6 * L).fma(w, a6);
                a7 = FloatVector.fromArray(F, v, b + 7 * L).fma(w, a7);
            }
            a0.intoArray(st, c);
            a1.intoArray(st, c + L);
            a2.intoArray(st, c + 2 * L);
            a3.intoArray(st, c + 3 * L);
            a4.intoArray(st, c + 4 * L);
            a5.intoArray(st, c + 5 * L);
            a6.intoArray(st, c + 6 * L);
            a7.intoArray(st, c + 7 * L);
        }
        for (; e + L <= d; e += L) {
            FloatVector a = FloatVector.fromArray(F, st, o + e);
            for (int j = 0; j < n; j++) {
                a = FloatVector.fromArray(F, v, vOff + j * d + e).fma(FloatVector.broadcast(F, p[pOff + j]), a);
            }
            a.intoArray(st, o + e);
        }
        for (; e < d; e++) {
            float a = st[o + e];
            for (int j = 0; j < n; j++) {
                a += p[pOff + j] * v[vOff + j * d + e];
            }
            st[o + e] = a;
        }
    }
}
