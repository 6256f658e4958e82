package dev.gale.kernels.attention;

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
 * registers per slice of {@code d}, so each value vector is loaded once per four rows. Allocates nothing.
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
        scores(q, qOff, g, d, k, kOff, n, s, sOff);
        for (int r = 0; r < g; r++) {
            update(s, sOff + r * n, n, st, stOff + r * (d + 2), d);
        }
        int r = 0;
        for (; r + 4 <= g; r += 4) {
            pv4(s, sOff + r * n, n, v, vOff, d, st, stOff + r * (d + 2));
        }
        for (; r < g; r++) {
            pv1(s, sOff + r * n, n, v, vOff, d, st, stOff + r * (d + 2));
        }
    }

    /** {@code s[r·n + j] = q_r · k_j}, four rows per key load, two accumulators per row. */
    static void scores(float[] q, int qOff, int g, int d, float[] k, int kOff, int n, float[] s, int sOff) {
        int dv = d - d % L;
        int r = 0;
        for (; r + 4 <= g; r += 4) {
            int q0 = qOff + r * d;
            int q1 = q0 + d;
            int q2 = q1 + d;
            int q3 = q2 + d;
            for (int j = 0; j < n; j++) {
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
                int o = sOff + r * n + j;
                s[o] = s0;
                s[o + n] = s1;
                s[o + 2 * n] = s2;
                s[o + 3 * n] = s3;
            }
        }
        for (; r < g; r++) {
            int q0 = qOff + r * d;
            for (int j = 0; j < n; j++) {
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
                s[sOff + r * n + j] = s0;
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

    /** {@code Õ_r += Σ_j p_rj·v_j} for four rows: four accumulators per slice of d, one value load for all four. */
    static void pv4(float[] p, int pOff, int n, float[] v, int vOff, int d, float[] st, int stOff) {
        int stride = d + 2;
        int o0 = stOff + SoftmaxState.O;
        int o1 = o0 + stride;
        int o2 = o1 + stride;
        int o3 = o2 + stride;
        int p1 = pOff + n;
        int p2 = p1 + n;
        int p3 = p2 + n;
        int dv = d - d % L;
        for (int e = 0; e < dv; e += L) {
            FloatVector a0 = FloatVector.fromArray(F, st, o0 + e);
            FloatVector a1 = FloatVector.fromArray(F, st, o1 + e);
            FloatVector a2 = FloatVector.fromArray(F, st, o2 + e);
            FloatVector a3 = FloatVector.fromArray(F, st, o3 + e);
            for (int j = 0; j < n; j++) {
                FloatVector vv = FloatVector.fromArray(F, v, vOff + j * d + e);
                a0 = vv.fma(FloatVector.broadcast(F, p[pOff + j]), a0);
                a1 = vv.fma(FloatVector.broadcast(F, p[p1 + j]), a1);
                a2 = vv.fma(FloatVector.broadcast(F, p[p2 + j]), a2);
                a3 = vv.fma(FloatVector.broadcast(F, p[p3 + j]), a3);
            }
            a0.intoArray(st, o0 + e);
            a1.intoArray(st, o1 + e);
            a2.intoArray(st, o2 + e);
            a3.intoArray(st, o3 + e);
        }
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

    /** {@code Õ += Σ_j p_j·v_j} for one row, two tokens per step into two accumulators. */
    static void pv1(float[] p, int pOff, int n, float[] v, int vOff, int d, float[] st, int stOff) {
        int o0 = stOff + SoftmaxState.O;
        int dv = d - d % L;
        for (int e = 0; e < dv; e += L) {
            FloatVector a0 = FloatVector.fromArray(F, st, o0 + e);
            FloatVector a1 = FloatVector.zero(F);
            int j = 0;
            for (; j + 2 <= n; j += 2) {
                a0 = FloatVector.fromArray(F, v, vOff + j * d + e).fma(FloatVector.broadcast(F, p[pOff + j]), a0);
                a1 = FloatVector.fromArray(F, v, vOff + (j + 1) * d + e).fma(FloatVector.broadcast(F, p[pOff + j + 1]), a1);
            }
            if (j < n) {
                a0 = FloatVector.fromArray(F, v, vOff + j * d + e).fma(FloatVector.broadcast(F, p[pOff + j]), a0);
            }
            a0.add(a1).intoArray(st, o0 + e);
        }
        for (int e = dv; e < d; e++) {
            float a = st[o0 + e];
            for (int j = 0; j < n; j++) {
                a += p[pOff + j] * v[vOff + j * d + e];
            }
            st[o0 + e] = a;
        }
    }
}
