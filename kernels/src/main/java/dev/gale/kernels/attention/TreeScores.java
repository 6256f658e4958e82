package dev.gale.kernels.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Decode scores {@code s = q·k} of staged F32 keys with one horizontal reduction per eight scores instead of one per
 * score. A dot product over the head dimension leaves partial sums in the lanes of an accumulator;
 * reducing each accumulator on its own (a {@code reduceLanes}) costs a shuffle-and-add chain per key that took more
 * time than the multiply-adds themselves (measured 20–27 ns per key for one row at d = 128, against 5.5–8 ns with
 * this class). Here the accumulators are combined by a transpose tree (at each level two accumulators blended, one of
 * them swapped at distance 1, 2, 4 (and 8 on AVX-512) and added) into one vector holding their sums in order, stored
 * with one instruction or four masked ones.
 *
 * <p>Two tiles. {@link #row}: one query row against eight keys: eight independent accumulators, which also breaks the
 * chain of dependent FMAs a one-key-at-a-time loop waits on. With eight lanes (AVX2) the tree's result is the eight
 * sums. With sixteen (AVX-512) each lane holds its key's sum over its half of the lanes, so one more swap-and-add at
 * distance 8 completes lanes 0–7, stored under a mask; eight keys rather than sixteen keep the tile at nine live
 * vectors. {@link #fourRows}: four rows of a GQA group against two keys, the same eight accumulators and tree.
 * {@link #applies} is false on other widths and for head dimensions that are not whole vectors; callers keep their
 * per-key reduction there. Keys past the last whole tile are scored by the caller's generic code.
 */
final class TreeScores {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final boolean SIXTEEN = L == 16;
    private static final boolean TILES = L == 8 || SIXTEEN;
    private static final VectorShuffle<Float> SWAP1 = TILES ? partner(1) : null;
    private static final VectorShuffle<Float> SWAP2 = TILES ? partner(2) : null;
    private static final VectorShuffle<Float> SWAP4 = TILES ? partner(4) : null;
    private static final VectorShuffle<Float> SWAP8 = SIXTEEN ? partner(8) : null;
    private static final VectorMask<Float> ODD1 = TILES ? odd(1) : null;
    private static final VectorMask<Float> ODD2 = TILES ? odd(2) : null;
    private static final VectorMask<Float> ODD4 = TILES ? odd(4) : null;
    /** Lanes 0–7, where the sixteen-lane tree leaves the eight sums. */
    private static final VectorMask<Float> FIRST8 = SIXTEEN ? F.indexInRange(0, 8) : null;
    /** Lanes {@code 2r, 2r + 1}: row {@code r}'s two scores in the four-row tile's result. */
    private static final VectorMask<Float> ROW0 = TILES ? pair(0) : null;
    private static final VectorMask<Float> ROW1 = TILES ? pair(2) : null;
    private static final VectorMask<Float> ROW2 = TILES ? pair(4) : null;
    private static final VectorMask<Float> ROW3 = TILES ? pair(6) : null;

    private TreeScores() {
    }

    /** Lane {@code i} takes lane {@code i ^ distance}. */
    private static VectorShuffle<Float> partner(int distance) {
        return VectorShuffle.fromOp(F, i -> i ^ distance);
    }

    /** The lanes whose index has the {@code bit} set: where a level keeps its second operand's sums. */
    private static VectorMask<Float> odd(int bit) {
        boolean[] b = new boolean[L];
        for (int i = 0; i < L; i++) {
            b[i] = (i & bit) != 0;
        }
        return VectorMask.fromArray(F, b, 0);
    }

    private static VectorMask<Float> pair(int from) {
        boolean[] b = new boolean[L];
        b[from] = true;
        b[from + 1] = true;
        return VectorMask.fromArray(F, b, 0);
    }

    /** Whether the tiles apply: eight- or sixteen-lane vectors and a head dimension of whole vectors. */
    static boolean applies(int d) {
        return TILES && d % L == 0;
    }

    /**
     * One tree level: in the even groups (index bit clear) {@code a[i] + a[i ^ distance]}, in the odd ones
     * {@code b[i] + b[i ^ distance]}. Blending first ({@code x} holds a's even and b's odd lanes, {@code y} the
     * other two halves) needs one lane permute where adding each operand to its own swap needed two; the sums are
     * the same pairs, so the results are identical.
     */
    private static FloatVector level(FloatVector a, FloatVector b, VectorShuffle<Float> swap, VectorMask<Float> odd) {
        FloatVector x = a.blend(b, odd);
        FloatVector y = b.blend(a, odd);
        return x.add(y.rearrange(swap));
    }

    /**
     * The lane sums of {@code a0 … a7}, in that order, in lanes 0–7 (for sixteen lanes, lanes 8–15 hold the same
     * sums).
     */
    private static FloatVector sums(FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3, FloatVector a4,
            FloatVector a5, FloatVector a6, FloatVector a7) {
        FloatVector u0 = level(a0, a1, SWAP1, ODD1);
        FloatVector u1 = level(a2, a3, SWAP1, ODD1);
        FloatVector u2 = level(a4, a5, SWAP1, ODD1);
        FloatVector u3 = level(a6, a7, SWAP1, ODD1);
        FloatVector w = level(level(u0, u1, SWAP2, ODD2), level(u2, u3, SWAP2, ODD2), SWAP4, ODD4);
        return SIXTEEN ? w.add(w.rearrange(SWAP8)) : w;
    }

    /**
     * Scores of the four rows at {@code q[q0 …]} ({@code d} apart) against keys {@code [0, n − n % 2)} of the block at
     * {@code k[kOff …]}, row {@code r}'s into {@code s[sOff + r·stride + j]}; returns the number of keys scored. The
     * tile is four rows × two keys: each key load feeds four FMAs, each query load two, and the eight accumulators
     * reduce through {@link #sums} into one vector whose lanes {@code 2r, 2r + 1} are row {@code r}'s two scores,
     * stored as four masked pairs. A tile of four keys (sixteen accumulators, one full vector on AVX-512) went past
     * C2's inlining node budget and ran boxed, 7× slower.
     */
    static int fourRows(float[] q, int q0, int d, float[] k, int kOff, int n, float[] s, int sOff, int stride) {
        int n2 = n - n % 2;
        int q1 = q0 + d;
        int q2 = q1 + d;
        int q3 = q2 + d;
        for (int j = 0; j < n2; j += 2) {
            int k0 = kOff + j * d;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
            for (int e = 0; e < d; e += L) {
                FloatVector x0 = FloatVector.fromArray(F, k, k0 + e);
                FloatVector x1 = FloatVector.fromArray(F, k, k0 + d + e);
                FloatVector w = FloatVector.fromArray(F, q, q0 + e);
                a0 = w.fma(x0, a0);
                a1 = w.fma(x1, a1);
                w = FloatVector.fromArray(F, q, q1 + e);
                b0 = w.fma(x0, b0);
                b1 = w.fma(x1, b1);
                w = FloatVector.fromArray(F, q, q2 + e);
                c0 = w.fma(x0, c0);
                c1 = w.fma(x1, c1);
                w = FloatVector.fromArray(F, q, q3 + e);
                e0 = w.fma(x0, e0);
                e1 = w.fma(x1, e1);
            }
            FloatVector sum = sums(a0, a1, b0, b1, c0, c1, e0, e1);
            int o = sOff + j;
            sum.intoArray(s, o, ROW0);
            sum.intoArray(s, o + stride - 2, ROW1);
            sum.intoArray(s, o + 2 * stride - 4, ROW2);
            sum.intoArray(s, o + 3 * stride - 6, ROW3);
        }
        return n2;
    }

    /**
     * Scores of the row {@code q[q0 …]} against keys {@code [0, n − n % 8)} of the block at {@code k[kOff …]}
     * ({@code [n][d]}), into {@code s[sOff + j]}. Returns the number of keys scored.
     */
    static int row(float[] q, int q0, int d, float[] k, int kOff, int n, float[] s, int sOff) {
        int n8 = n - n % 8;
        for (int j = 0; j < n8; j += 8) {
            int k0 = kOff + j * d;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (int e = 0; e < d; e += L) {
                FloatVector w = FloatVector.fromArray(F, q, q0 + e);
                int x = k0 + e;
                a0 = w.fma(FloatVector.fromArray(F, k, x), a0);
                a1 = w.fma(FloatVector.fromArray(F, k, x + d), a1);
                a2 = w.fma(FloatVector.fromArray(F, k, x + 2 * d), a2);
                a3 = w.fma(FloatVector.fromArray(F, k, x + 3 * d), a3);
                a4 = w.fma(FloatVector.fromArray(F, k, x + 4 * d), a4);
                a5 = w.fma(FloatVector.fromArray(F, k, x + 5 * d), a5);
                a6 = w.fma(FloatVector.fromArray(F, k, x + 6 * d), a6);
                a7 = w.fma(FloatVector.fromArray(F, k, x + 7 * d), a7);
            }
            FloatVector sum = sums(a0, a1, a2, a3, a4, a5, a6, a7);
            if (SIXTEEN) {
                sum.intoArray(s, sOff + j, FIRST8);
            } else {
                sum.intoArray(s, sOff + j);
            }
        }
        return n8;
    }
}
