package dev.gale.kernels.sampling;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Top-k of one row as a device kernel, with {@link TopK}'s order: NaN above every number, {@code -0.0 == +0.0}, ties
 * to the lower index; results best first in {@code idx[0..k)} and {@code val[0..k)}, exactly {@code TopK.reference}'s.
 *
 * <p>Geometry: one work group of {@code group} items, {@code Grid.of1(group, group)}; {@code k} ({@code 1 ≤ k ≤ n})
 * and {@code group} are specialisation constants (local memory {@code 8·group·k} bytes: 32 KiB for 64 × 64). Item
 * {@code l} scans indices {@code l, l + group, …} (contiguous across items) and keeps its own best {@code k} as a
 * sorted list in local memory: a candidate is compared with the list's last (worst) entry and, only if better,
 * inserted by shifting. After a barrier item 0 merges the {@code group} sorted lists, taking the best head
 * {@code k} times.
 */
public final class TopKKernels {
    private TopKKernels() {
    }

    /** True if (va, ia) ranks below (vb, ib): smaller value, or equal value and larger index; NaN ranks highest. */
    @DeviceFunction
    static boolean worse(float va, int ia, float vb, int ib) {
        boolean na = Float.isNaN(va);
        boolean nb = Float.isNaN(vb);
        if (na != nb) {
            return nb;
        }
        if (!na && va != vb) {
            return va < vb;
        }
        return ia > ib;
    }

    @Kernel
    public static void topK(KernelContext ctx, F32 x, I32 idx, F32 val, int n, @Const int k, @Const int group) {
        float[] lv = ctx.localFloats(group * k);
        int[] li = ctx.localInts(group * k);
        int[] heads = ctx.localInts(group);
        int lid = ctx.localId(0);
        int base = lid * k;
        int count = 0;
        for (int i = lid; i < n; i += group) {
            float v = x.get(i);
            int pos;
            if (count < k) {
                pos = count;
                count++;
            } else if (worse(lv[base + k - 1], li[base + k - 1], v, i)) {
                pos = k - 1;
            } else {
                continue;
            }
            while (pos > 0 && worse(lv[base + pos - 1], li[base + pos - 1], v, i)) {
                lv[base + pos] = lv[base + pos - 1];
                li[base + pos] = li[base + pos - 1];
                pos--;
            }
            lv[base + pos] = v;
            li[base + pos] = i;
        }
        for (int j = count; j < k; j++) {
            li[base + j] = -1;
            lv[base + j] = 0.0f;
        }
        heads[lid] = 0;
        ctx.barrier();
        if (lid == 0) {
            for (int r = 0; r < k; r++) {
                int bg = -1;
                float bv = 0.0f;
                int bi = -1;
                for (int g = 0; g < group; g++) {
                    int h = heads[g];
                    if (h < k) {
                        int ci = li[g * k + h];
                        float cv = lv[g * k + h];
                        if (ci >= 0 && (bg < 0 || worse(bv, bi, cv, ci))) {
                            bg = g;
                            bv = cv;
                            bi = ci;
                        }
                    }
                }
                idx.set(r, bi);
                val.set(r, bv);
                if (bg >= 0) {
                    heads[bg] = heads[bg] + 1;
                }
            }
        }
    }
}
