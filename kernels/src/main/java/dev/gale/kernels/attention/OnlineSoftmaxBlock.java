package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.LE;

import dev.gale.kernels.activation.VectorMath;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
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
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class,
            VectorShape.forBitSize(I.vectorBitSize() / 2));
    private static final ValueLayout.OfFloat F32U = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfShort I16U = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    /** Sign, exponent and mantissa of a sign-extended F16 shifted left by 13 (bits 30..28 are sign copies). */
    private static final int SIGN_EXP_MANT = 0x8fffe000;

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

    /**
     * The same fold reading keys and values in place from a cache segment, F32 or F16 ({@code half}), without
     * staging: token {@code j}'s key starts at byte {@code kOff + j·tokenBytes}, its value at
     * {@code vOff + j·tokenBytes}. F16 is widened in registers (exactly: the 16-bit lanes widened to int, exponent and mantissa shifted into place, rebiased by a multiply by 2^112 that also normalises subnormals, exponent 31 blended to 255) right where it is
     * used, so every cached byte is loaded once per register tile of query rows and never stored back as F32. Two
     * register tiles: four query rows × two keys for the scores and four rows × two slices of d for {@code P·V} (eight
     * accumulators, one key or value load feeding four FMAs), and for rows left over when {@code g} is not a multiple
     * of four (the 8/8-heads case is all leftovers), one row × two keys and one row × two slices.
     */
    public static void foldInPlace(float[] q, int qOff, int g, int d, MemorySegment k, long kOff, MemorySegment v,
            long vOff, long tokenBytes, boolean half, int n, float[] s, int sOff, float[] st, int stOff) {
        if (n <= 0) {
            return;
        }
        int r = 0;
        for (; r + 4 <= g; r += 4) {
            scores4(q, qOff + r * d, d, k, kOff, tokenBytes, half, n, s, sOff + r * n);
        }
        for (; r < g; r++) {
            scores1(q, qOff + r * d, d, k, kOff, tokenBytes, half, n, s, sOff + r * n);
        }
        for (r = 0; r < g; r++) {
            update(s, sOff + r * n, n, st, stOff + r * (d + 2), d);
        }
        for (r = 0; r + 4 <= g; r += 4) {
            pv4(s, sOff + r * n, n, v, vOff, tokenBytes, half, d, st, stOff + r * (d + 2));
        }
        for (; r < g; r++) {
            pv1(s, sOff + r * n, n, v, vOff, tokenBytes, half, d, st, stOff + r * (d + 2));
        }
    }

    /** Scratch floats {@link #foldInPlace} needs for {@code n} tokens and {@code g} rows: the score rows. */
    public static int inPlaceScratchFloats(int n, int g) {
        return g * n;
    }

    /** {@code L} cached elements at byte {@code off} as F32 lanes. */
    private static FloatVector load(MemorySegment seg, long off, boolean half) {
        if (!half) {
            return FloatVector.fromMemorySegment(F, seg, off, LE);
        }
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, off, LE)
                .convertShape(VectorOperators.S2I, I, 0);
        IntVector e = h.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT);
        return e.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                .blend(e.or(0x7f800000), h.and(0x7c00).compare(VectorOperators.EQ, 0x7c00)).reinterpretAsFloats();
    }

    /** One cached element at byte {@code off}, widened. */
    private static float scalar(MemorySegment seg, long off, boolean half) {
        return half ? Float.float16ToFloat(seg.get(I16U, off)) : seg.get(F32U, off);
    }

    /**
     * Scores of four rows ({@code q[q0 …]}, rows d apart) against keys in place, two keys per step. An odd last key
     * is computed twice (the second copy discarded), so there is no separate tail loop.
     */
    private static void scores4(float[] q, int q0, int d, MemorySegment k, long kOff, long tb, boolean half, int n,
            float[] s, int sOff) {
        int dv = d - d % L;
        long eb = half ? 2 : 4;
        int q1 = q0 + d;
        int q2 = q1 + d;
        int q3 = q2 + d;
        for (int j = 0; j < n; j += 2) {
            int j1 = Math.min(j + 1, n - 1);
            long ka = kOff + j * tb;
            long kb = kOff + j1 * tb;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int e = 0; e < dv; e += L) {
                FloatVector x = load(k, ka + e * eb, half);
                FloatVector y = load(k, kb + e * eb, half);
                FloatVector w = FloatVector.fromArray(F, q, q0 + e);
                a0 = w.fma(x, a0);
                b0 = w.fma(y, b0);
                w = FloatVector.fromArray(F, q, q1 + e);
                a1 = w.fma(x, a1);
                b1 = w.fma(y, b1);
                w = FloatVector.fromArray(F, q, q2 + e);
                a2 = w.fma(x, a2);
                b2 = w.fma(y, b2);
                w = FloatVector.fromArray(F, q, q3 + e);
                a3 = w.fma(x, a3);
                b3 = w.fma(y, b3);
            }
            float sa0 = a0.reduceLanes(VectorOperators.ADD), sb0 = b0.reduceLanes(VectorOperators.ADD);
            float sa1 = a1.reduceLanes(VectorOperators.ADD), sb1 = b1.reduceLanes(VectorOperators.ADD);
            float sa2 = a2.reduceLanes(VectorOperators.ADD), sb2 = b2.reduceLanes(VectorOperators.ADD);
            float sa3 = a3.reduceLanes(VectorOperators.ADD), sb3 = b3.reduceLanes(VectorOperators.ADD);
            for (int e = dv; e < d; e++) {
                float x = scalar(k, ka + e * eb, half);
                float y = scalar(k, kb + e * eb, half);
                sa0 += q[q0 + e] * x;
                sb0 += q[q0 + e] * y;
                sa1 += q[q1 + e] * x;
                sb1 += q[q1 + e] * y;
                sa2 += q[q2 + e] * x;
                sb2 += q[q2 + e] * y;
                sa3 += q[q3 + e] * x;
                sb3 += q[q3 + e] * y;
            }
            s[sOff + j] = sa0;
            s[sOff + n + j] = sa1;
            s[sOff + 2 * n + j] = sa2;
            s[sOff + 3 * n + j] = sa3;
            // j1 == j on an odd last key: the same value again.
            s[sOff + j1] = sb0;
            s[sOff + n + j1] = sb1;
            s[sOff + 2 * n + j1] = sb2;
            s[sOff + 3 * n + j1] = sb3;
        }
    }

    /**
     * Scores of one row against keys in place, two keys per step (an odd last key taken twice). Two, not four: each
     * F16 load is a dozen vector operations, and with four C2 stopped inlining them (NodeCountInliningCutoff), which
     * boxes.
     */
    private static void scores1(float[] q, int q0, int d, MemorySegment k, long kOff, long tb, boolean half, int n,
            float[] s, int sOff) {
        int dv = d - d % L;
        long eb = half ? 2 : 4;
        for (int j = 0; j < n; j += 2) {
            int j1 = Math.min(j + 1, n - 1);
            long k0 = kOff + j * tb;
            long k1 = kOff + j1 * tb;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            for (int e = 0; e < dv; e += L) {
                FloatVector w = FloatVector.fromArray(F, q, q0 + e);
                a0 = w.fma(load(k, k0 + e * eb, half), a0);
                a1 = w.fma(load(k, k1 + e * eb, half), a1);
            }
            float s0 = a0.reduceLanes(VectorOperators.ADD);
            float s1 = a1.reduceLanes(VectorOperators.ADD);
            for (int e = dv; e < d; e++) {
                float w = q[q0 + e];
                s0 += w * scalar(k, k0 + e * eb, half);
                s1 += w * scalar(k, k1 + e * eb, half);
            }
            s[sOff + j] = s0;
            s[sOff + j1] = s1; // j1 == j on an odd last key: the same value again
        }
    }

    /**
     * {@code Õ_r += Σ_j p_rj·v_j} for four rows, values in place: two slices of d per pass, so each value load feeds
     * four FMAs and each probability broadcast two. With an odd slice count the last pass takes the last slice twice;
     * both copies start from the same accumulator and add the same terms, so storing both is harmless.
     */
    private static void pv4(float[] p, int pOff, int n, MemorySegment v, long vOff, long tb, boolean half, int d,
            float[] st, int stOff) {
        int stride = d + 2;
        int o0 = stOff + SoftmaxState.O;
        int o1 = o0 + stride;
        int o2 = o1 + stride;
        int o3 = o2 + stride;
        int dv = d - d % L;
        long eb = half ? 2 : 4;
        for (int e = 0; e < dv; e += 2 * L) {
            int f = Math.min(e + L, dv - L);
            FloatVector a0 = FloatVector.fromArray(F, st, o0 + e), c0 = FloatVector.fromArray(F, st, o0 + f);
            FloatVector a1 = FloatVector.fromArray(F, st, o1 + e), c1 = FloatVector.fromArray(F, st, o1 + f);
            FloatVector a2 = FloatVector.fromArray(F, st, o2 + e), c2 = FloatVector.fromArray(F, st, o2 + f);
            FloatVector a3 = FloatVector.fromArray(F, st, o3 + e), c3 = FloatVector.fromArray(F, st, o3 + f);
            long ve = vOff + e * eb;
            long vf = vOff + f * eb;
            for (int j = 0; j < n; j++) {
                FloatVector x = load(v, ve + j * tb, half);
                FloatVector y = load(v, vf + j * tb, half);
                FloatVector w = FloatVector.broadcast(F, p[pOff + j]);
                a0 = x.fma(w, a0);
                c0 = y.fma(w, c0);
                w = FloatVector.broadcast(F, p[pOff + n + j]);
                a1 = x.fma(w, a1);
                c1 = y.fma(w, c1);
                w = FloatVector.broadcast(F, p[pOff + 2 * n + j]);
                a2 = x.fma(w, a2);
                c2 = y.fma(w, c2);
                w = FloatVector.broadcast(F, p[pOff + 3 * n + j]);
                a3 = x.fma(w, a3);
                c3 = y.fma(w, c3);
            }
            a0.intoArray(st, o0 + e);
            a1.intoArray(st, o1 + e);
            a2.intoArray(st, o2 + e);
            a3.intoArray(st, o3 + e);
            c0.intoArray(st, o0 + f);
            c1.intoArray(st, o1 + f);
            c2.intoArray(st, o2 + f);
            c3.intoArray(st, o3 + f);
        }
        for (int r = 0; r < 4; r++) {
            pvTail(p, pOff + r * n, n, v, vOff, tb, half, dv, d, st, stOff + r * stride + SoftmaxState.O);
        }
    }

    /** {@code Õ += Σ_j p_j·v_j} for one row, values in place: two slices of d per pass (clamped like pv4). */
    private static void pv1(float[] p, int pOff, int n, MemorySegment v, long vOff, long tb, boolean half, int d,
            float[] st, int stOff) {
        int o = stOff + SoftmaxState.O;
        int dv = d - d % L;
        long eb = half ? 2 : 4;
        for (int e = 0; e < dv; e += 2 * L) {
            int f = Math.min(e + L, dv - L);
            FloatVector a0 = FloatVector.fromArray(F, st, o + e);
            FloatVector a1 = FloatVector.fromArray(F, st, o + f);
            for (int j = 0; j < n; j++) {
                long vj = vOff + j * tb;
                FloatVector w = FloatVector.broadcast(F, p[pOff + j]);
                a0 = load(v, vj + e * eb, half).fma(w, a0);
                a1 = load(v, vj + f * eb, half).fma(w, a1);
            }
            a1.intoArray(st, o + f);
            a0.intoArray(st, o + e);
        }
        pvTail(p, pOff, n, v, vOff, tb, half, dv, d, st, o);
    }

    /** Elements {@code [dv, d)} of one row's {@code Õ} (at {@code st[o …]}), scalar. */
    private static void pvTail(float[] p, int pOff, int n, MemorySegment v, long vOff, long tb, boolean half, int dv,
            int d, float[] st, int o) {
        long eb = half ? 2 : 4;
        for (int e = dv; e < d; e++) {
            float a = st[o + e];
            for (int j = 0; j < n; j++) {
                a += p[pOff + j] * scalar(v, vOff + j * tb + e * eb, half);
            }
            st[o + e] = a;
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
