package dev.gale.kernels.attention;

import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Appending new tokens' keys and values to a dense head-major cache {@code [Hkv][capacity][d]} (one sequence), one
 * item per element of {@code k} and {@code v} ({@code tokens·Hkv·d}), {@code Grid.of1(roundUp(n, local), local)}.
 * The source is token-major {@code [tokens][Hkv][d]}, as the projections write it; F16 caches store with
 * round-to-nearest-even. The new length is not the kernel's to publish: the op writes it on the host, which plans the
 * decode attention from it, so a GPU has nothing to copy back and need not be waited for.
 */
public final class KvAppendKernels {
    private KvAppendKernels() {
    }

    @Kernel
    public static void appendF32(KernelContext ctx, F32 k, F32 v, F32 cacheK, F32 cacheV, int tokens,
            int kvHeads, int capacity, int d, int pos) {
        int i = ctx.globalId(0);
        int n = tokens * kvHeads * d;
        if (i < n) {
            int e = i % d;
            int h = (i / d) % kvHeads;
            int t = i / (d * kvHeads);
            long dst = ((long) h * capacity + pos + t) * d + e;
            cacheK.set(dst, k.get(i));
            cacheV.set(dst, v.get(i));
        }
    }

    @Kernel
    public static void appendF16(KernelContext ctx, F32 k, F32 v, F16 cacheK, F16 cacheV, int tokens,
            int kvHeads, int capacity, int d, int pos) {
        int i = ctx.globalId(0);
        int n = tokens * kvHeads * d;
        if (i < n) {
            int e = i % d;
            int h = (i / d) % kvHeads;
            int t = i / (d * kvHeads);
            long dst = ((long) h * capacity + pos + t) * d + e;
            cacheK.set(dst, k.get(i));
            cacheV.set(dst, v.get(i));
        }
    }
}
