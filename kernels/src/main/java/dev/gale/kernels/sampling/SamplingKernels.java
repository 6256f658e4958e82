package dev.gale.kernels.sampling;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
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

    @Kernel
    public static void argmax(KernelContext ctx, F32 x, I32 out, int n, @Const int group) {
        float[] vals = ctx.localFloats(group);
        int[] idx = ctx.localInts(group);
        int lid = ctx.localId(0);
        float bv = 0.0f;
        int bi = -1;
        for (int i = lid; i < n; i += group) {
            float v = x.get(i);
            boolean take;
            if (bi < 0) {
                take = true;
            } else if (Float.isNaN(bv)) {
                take = false;
            } else {
                take = Float.isNaN(v) || v > bv;
            }
            if (take) {
                bv = v;
                bi = i;
            }
        }
        vals[lid] = bv;
        idx[lid] = bi;
        ctx.barrier();
        if (lid == 0) {
            float wv = 0.0f;
            int wi = -1;
            for (int j = 0; j < group; j++) {
                float v = vals[j];
                int i = idx[j];
                boolean take;
                if (i < 0) {
                    take = false;
                } else if (wi < 0) {
                    take = true;
                } else if (Float.isNaN(v)) {
                    take = !Float.isNaN(wv) || i < wi;
                } else if (Float.isNaN(wv)) {
                    take = false;
                } else {
                    take = v > wv || (v == wv && i < wi);
                }
                if (take) {
                    wv = v;
                    wi = i;
                }
            }
            out.set(0, wi);
        }
    }
}
