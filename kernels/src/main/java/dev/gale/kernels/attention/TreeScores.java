package dev.gale.kernels.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Decode scores {@code s = q·k} of staged F32 keys with one horizontal reduction per eight scores instead of one per
 * score. A dot product over the head dimension leaves partial sums in the lanes of an accumulator; reducing
 * each accumulator on its own (a {@code reduceLanes}) costs a shuffle-and-add chain per key that took more time than
 * the multiply-adds themselves (measured 20–27 ns per key for one row at d = 128, against 5.5–8 ns with this class).
 * Here eight accumulators are combined by a three-level transpose tree (swap lanes at distance 1, 2, 4; add; blend)
 * into one vector holding their eight sums in order, stored with one instruction.
 *
 * <p>The register tile is one query row against eight keys: eight independent accumulators, which also breaks the
 * chain of dependent FMAs a one-key-at-a-time loop waits on. With eight lanes (AVX2) the tree's result is the eight
 * sums. With sixteen (AVX-512) each lane holds its key's sum over its half of the lanes, so one more swap-and-add at
 * distance 8 completes lanes 0–7, stored under a mask; eight keys rather than sixteen keep the tile at nine live
 * vectors, and the tree's cost per key stays the same. {@link #applies} is false on other widths and for head
 * dimensions that are not whole vectors; callers keep their per-key reduction there. Keys past the last whole tile
 * are scored by the caller's generic code.
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

    /** Whether the tiles apply: eight- or sixteen-lane vectors and a head dimension of whole vectors. */
    static boolean applies(int d) {
        return TILES && d % L == 0;
    }

    /**
     * One tree level: lanes of {@code a} and {@code b} each added to their partner at the level's distance, then
     * {@code a}'s sums kept in the even groups and {@code b}'s in the odd ones.
     */
    private static FloatVector level(FloatVector a, FloatVector b, VectorShuffle<Float> swap, VectorMask<Float> odd) {
        return a.add(a.rearrange(swap)).blend(b.add(b.rearrange(swap)), odd);
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
