package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.LE;

import dev.gale.kernels.activation.VectorMath;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * registers per two slices of {@code d}, so each value vector is loaded once per four rows; rows left over take
 * eight slices per pass instead. Allocates nothing.
 */
public final class OnlineSoftmaxBlock {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final ValueLayout.OfFloat F32U = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

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
     * The same fold reading F32 keys and values in place from a cache segment, without staging: token {@code j}'s
     * key starts at byte {@code kOff + j·tokenBytes}, its value at {@code vOff + j·tokenBytes}. Two register tiles:
     * four query rows × two keys for the scores and four rows × two slices of d for {@code P·V} (eight accumulators,
     * one key or value load feeding four FMAs), and for rows left over when {@code g} is not a multiple of four, one
     * row × two keys and one row × two slices. (F16 caches stage instead: {@link DenseKv#accumulate}.)
     */
    public static void foldInPlace(float[] q, int qOff, int g, int d, MemorySegment k, long kOff, MemorySegment v,
            long vOff, long tokenBytes, int n, float[] s, int sOff, float[] st, int stOff) {
        if (n <= 0) {
            return;
        }
        int r = 0;
        for (; r + 4 <= g; r += 4) {
            scores4(q, qOff + r * d, d, k, kOff, tokenBytes, n, s, sOff + r * n);
        }
        for (; r < g; r++) {
            scores1(q, qOff + r * d, d, k, kOff, tokenBytes, n, s, sOff + r * n);
        }
        for (r = 0; r < g; r++) {
            update(s, sOff + r * n, n, st, stOff + r * (d + 2), d);
        }
        for (r = 0; r + 4 <= g; r += 4) {
            pv4(s, sOff + r * n, n, v, vOff, tokenBytes, d, st, stOff + r * (d + 2));
        }
        for (; r < g; r++) {
            pv1(s, sOff + r * n, n, v, vOff, tokenBytes, d, st, stOff + r * (d + 2));
        }
    }

    /** Scratch floats {@link #foldInPlace} needs for {@code n} tokens and {@code g} rows: the score rows. */
    public static int inPlaceScratchFloats(int n, int g) {
        return g * n;
    }

    /** {@code L} cached F32 elements at byte {@code off}. */
    private static FloatVector load(MemorySegment seg, long off) {
        return FloatVector.fromMemorySegment(F, seg, off, LE);
    }

    /** One cached F32 element at byte {@code off}. */
    private static float scalar(MemorySegment seg, long off) {
        return seg.get(F32U, off);
    }

    /**
     * Scores of four rows ({@code q[q0 …]}, rows d apart) against keys in place, two keys per step. An odd last key
     * is computed twice (the second copy discarded), so there is no separate tail loop.
     */
    private static void scores4(float[] q, int q0, int d, MemorySegment k, long kOff, long tb, int n,
            float[] s, int sOff) {
        int dv = d - d % L;
        long eb = 4;
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
                FloatVector x = load(k, ka + e * eb);
                FloatVector y = load(k, kb + e * eb);
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
                float x = scalar(k, ka + e * eb);
                float y = scalar(k, kb + e * eb);
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
     * Scores of one row against keys in place, two keys per step (an odd last key taken twice). Two, not four: with
     * four C2 stopped inlining the loads when they still widened F16 (NodeCountInliningCutoff), which
     * boxes.
     */
    private static void scores1(float[] q, int q0, int d, MemorySegment k, long kOff, long tb, int n,
            float[] s, int sOff) {
        int dv = d - d % L;
        long eb = 4;
        for (int j = 0; j < n; j += 2) {
            int j1 = Math.min(j + 1, n - 1);
            long k0 = kOff + j * tb;
            long k1 = kOff + j1 * tb;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            for (int e = 0; e < dv; e += L) {
                FloatVector w = FloatVector.fromArray(F, q, q0 + e);
                a0 = w.fma(load(k, k0 + e * eb), a0);
                a1 = w.fma(load(k, k1 + e * eb), a1);
            }
            float s0 = a0.reduceLanes(VectorOperators.ADD);
            float s1 = a1.reduceLanes(VectorOperators.ADD);
            for (int e = dv; e < d; e++) {
                float w = q[q0 + e];
                s0 += w * scalar(k, k0 + e * eb);
                s1 += w * scalar(k, k1 + e * eb);
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
    private static void pv4(float[] p, int pOff, int n, MemorySegment v, long vOff, long tb, int d,
            float[] st, int stOff) {
        int stride = d + 2;
        int o0 = stOff + SoftmaxState.O;
        int o1 = o0 + stride;
        int o2 = o1 + stride;
        int o3 = o2 + stride;
        int dv = d - d % L;
        long eb = 4;
        for (int e = 0; e < dv; e += 2 * L) {
            int f = Math.min(e + L, dv - L);
            FloatVector a0 = FloatVector.fromArray(F, st, o0 + e), c0 = FloatVector.fromArray(F, st, o0 + f);
            FloatVector a1 = FloatVector.fromArray(F, st, o1 + e), c1 = FloatVector.fromArray(F, st, o1 + f);
            FloatVector a2 = FloatVector.fromArray(F, st, o2 + e), c2 = FloatVector.fromArray(F, st, o2 + f);
            FloatVector a3 = FloatVector.fromArray(F, st, o3 + e), c3 = FloatVector.fromArray(F, st, o3 + f);
            long ve = vOff + e * eb;
            long vf = vOff + f * eb;
            for (int j = 0; j < n; j++) {
                FloatVector x = load(v, ve + j * tb);
                FloatVector y = load(v, vf + j * tb);
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
            pvTail(p, pOff + r * n, n, v, vOff, tb, dv, d, st, stOff + r * stride + SoftmaxState.O);
        }
    }

    /** {@code Õ += Σ_j p_j·v_j} for one row, values in place: two slices of d per pass (clamped like pv4). */
    private static void pv1(float[] p, int pOff, int n, MemorySegment v, long vOff, long tb, int d,
            float[] st, int stOff) {
        int o = stOff + SoftmaxState.O;
        int dv = d - d % L;
        long eb = 4;
        for (int e = 0; e < dv; e += 2 * L) {
            int f = Math.min(e + L, dv - L);
            FloatVector a0 = FloatVector.fromArray(F, st, o + e);
            FloatVector a1 = FloatVector.fromArray(F, st, o + f);
            for (int j = 0; j < n; j++) {
                long vj = vOff + j * tb;
                FloatVector w = FloatVector.broadcast(F, p[pOff + j]);
                a0 = load(v, vj + e * eb).fma(w, a0);
                a1 = load(v, vj + f * eb).fma(w, a1);
            }
            a1.intoArray(st, o + f);
            a0.intoArray(st, o + e);
        }
        pvTail(p, pOff, n, v, vOff, tb, dv, d, st, o);
    }

    /** Elements {@code [dv, d)} of one row's {@code Õ} (at {@code st[o …]}), scalar. */
    private static void pvTail(float[] p, int pOff, int n, MemorySegment v, long vOff, long tb, int dv,
            int d, float[] st, int o) {
        long eb = 4;
        for (int e = dv; e < d; e++) {
            float a = st[o + e];
            for (int j = 0; j < n; j++) {
                a += p[pOff + j] * scalar(v, vOff + j * tb + e * eb);
            }
            st[o + e] = a;
        }
    }

    /**
     * {@code s[r·n + j] = q_r · k_j}. Rows in fours share each key load, with a horizontal sum per score; a row left
     * over (all of them when {@code g < 4}, e.g. without GQA) goes against eight keys at a time through
     * {@link TreeScores} where it applies. One row with one key per step is a chain of dependent FMAs that ran at
     * about a quarter of the tree's speed; four rows hide that latency on their own (and measured faster than the tree
     * in pairs of rows, which reloads each key once per pair).
     */
    static void scores(float[] q, int qOff, int g, int d, float[] k, int kOff, int n, float[] s, int sOff) {
        int fours = g - g % 4;
        scoresGeneric(q, qOff, fours, d, k, kOff, 0, n, s, sOff, n);
        for (int r = fours; r < g; r++) {
            int q0 = qOff + r * d;
            int s0 = sOff + r * n;
            int done = TreeScores.applies(d) ? TreeScores.row(q, q0, d, k, kOff, n, s, s0) : 0;
            scoresGeneric(q, q0, 1, d, k, kOff, done, n, s, s0, n);
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
     * {@code Õ_r += Σ_j p_rj·v_j} for four rows: two slices of d per pass over the block, so each value load feeds four
     * FMAs and each probability broadcast two (eight accumulators). With an odd slice count the last pass takes the
     * last slice twice; both copies start from the same accumulator and add the same terms, so storing both is
     * harmless.
     */
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
        for (int e = 0; e < dv; e += 2 * L) {
            int f = Math.min(e + L, dv - L);
            FloatVector a0 = FloatVector.fromArray(F, st, o0 + e), c0 = FloatVector.fromArray(F, st, o0 + f);
            FloatVector a1 = FloatVector.fromArray(F, st, o1 + e), c1 = FloatVector.fromArray(F, st, o1 + f);
            FloatVector a2 = FloatVector.fromArray(F, st, o2 + e), c2 = FloatVector.fromArray(F, st, o2 + f);
            FloatVector a3 = FloatVector.fromArray(F, st, o3 + e), c3 = FloatVector.fromArray(F, st, o3 + f);
            for (int j = 0; j < n; j++) {
                int b = vOff + j * d;
                FloatVector x = FloatVector.fromArray(F, v, b + e);
                FloatVector y = FloatVector.fromArray(F, v, b + f);
                FloatVector w = FloatVector.broadcast(F, p[pOff + j]);
                a0 = x.fma(w, a0);
                c0 = y.fma(w, c0);
                w = FloatVector.broadcast(F, p[p1 + j]);
                a1 = x.fma(w, a1);
                c1 = y.fma(w, c1);
                w = FloatVector.broadcast(F, p[p2 + j]);
                a2 = x.fma(w, a2);
                c2 = y.fma(w, c2);
                w = FloatVector.broadcast(F, p[p3 + j]);
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
