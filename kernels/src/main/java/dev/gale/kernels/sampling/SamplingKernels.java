package dev.gale.kernels.sampling;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Device kernels of the sampling family, with {@code Argmax}'s order: the first NaN wins, otherwise the first index
 * of the maximum; {@code -0.0} equals {@code +0.0}.
 *
 * <p>Argmax geometry: one work group of {@code group} items, {@code Grid.of1(group, group)}. Item {@code l} scans
 * indices {@code l, l + group, …} (contiguous across items), keeping its best (value, index); the {@code group}
 * candidates meet in local memory and item 0 picks the winner in a plain loop, comparing indices on ties.
 */
public final class SamplingKernels {
    private SamplingKernels() {
    }

    /**
     * The first maximum of {@code x[0, n)} (a NaN counts as the largest, the first NaN winning) by one work group of
     * {@code group} items, a power of two: each item scans a strided part, then the group halves its candidates
     * {@code log2(group)} times. A GPU runs it with 1024 items, PoCL with 64 ({@code ArgmaxOp}).
     */
    @Kernel
    public static void argmax(KernelContext ctx, F32 x, I32 out, int n, @Const int group) {
        float[] vals = ctx.localFloats(group);
        int[] idx = ctx.localInts(group);
        int lid = ctx.localId(0);
        float bv = 0.0f;
        int bi = -1;
        for (int i = lid; i < n; i += group) {
            float v = x.get(i);
            if (takes(v, i, bv, bi)) {
                bv = v;
                bi = i;
            }
        }
        vals[lid] = bv;
        idx[lid] = bi;
        ctx.barrier();
        for (int half = group / 2; half > 0; half = half / 2) {
            if (lid < half && takes(vals[lid + half], idx[lid + half], vals[lid], idx[lid])) {
                vals[lid] = vals[lid + half];
                idx[lid] = idx[lid + half];
            }
            ctx.barrier();
        }
        if (lid == 0) {
            out.set(0, idx[0]);
        }
    }

    /**
     * Whether candidate {@code (v, i)} beats the best so far {@code (bv, bi)}; an index below 0 is no candidate. A NaN
     * beats every number, and between two NaNs or two equal numbers the lower index wins, so the order of merging
     * does not change the answer.
     */
    @DeviceFunction
    static boolean takes(float v, int i, float bv, int bi) {
        if (i < 0) {
            return false;
        }
        if (bi < 0) {
            return true;
        }
        if (Float.isNaN(v)) {
            return !Float.isNaN(bv) || i < bi;
        }
        if (Float.isNaN(bv)) {
            return false;
        }
        return v > bv || (v == bv && i < bi);
    }
}
