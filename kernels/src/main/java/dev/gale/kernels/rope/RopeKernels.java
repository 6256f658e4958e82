package dev.gale.kernels.rope;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Rotary position embedding as a device kernel, in place, for {@code tokens × heads × headDim} row-major F32; token
 * {@code t} sits at position {@code pos + t} (the decode position is a run-time scalar, so a step does not rebuild).
 * The angle of pair {@code i} is computed on the device in F32, {@code (pos + t) · θ^(−2i/headDim)}, with θ an
 * argument; its rounding error grows with the position (about {@code angle · 2^-24} plus a few ulp of
 * {@code pow}), which the tolerance of the cross-device suite accounts for.
 *
 * <p>Layout: {@code @Const halfSplit} = 0 pairs adjacent elements {@code (2i, 2i+1)} (Llama, GGUF), 1 pairs
 * {@code (i, i + headDim/2)} (NeoX, Hugging Face). Geometry: one item per pair,
 * {@code Grid.of1(roundUp(tokens · heads · headDim/2, local), local)}.
 *
 * <p>{@link #ropeTable} reads the angles' cos/sin from tables instead ({@code cos[p · headDim/2 + i]},
 * {@code sin[p · headDim/2 + i]} for positions {@code p < pos + tokens}, filled from {@code RopeTable.cos/sin}, which
 * rounds angles computed in double): F32-exact angles at any position, and no {@code pow}/{@code sin}/{@code cos} per
 * item, which on PoCL costs about 200-250 ns per pair (ropeTable: 12 µs against 264 µs for 32 heads of 64 in one
 * launch, 0.44 ms against 13.7 ms for 64 tokens; medians, device time, on a loaded 2-core machine).
 */
public final class RopeKernels {
    private RopeKernels() {
    }

    @Kernel
    public static void rope(KernelContext ctx, F32 x, int tokens, int heads, int headDim, int pos, float theta,
            @Const int halfSplit) {
        int half = headDim / 2;
        int id = ctx.globalId(0);
        if (id >= tokens * heads * half) {
            return;
        }
        int i = id % half;
        int row = id / half;
        int t = row / heads;
        long base = (long) row * headDim;
        long ia = halfSplit == 1 ? base + i : base + 2 * i;
        long ib = halfSplit == 1 ? base + i + half : base + 2 * i + 1;
        float freq = KMath.pow(theta, (-2.0f * i) / headDim);
        float angle = (float) (pos + t) * freq;
        float c = KMath.cos(angle);
        float s = KMath.sin(angle);
        float a = x.get(ia);
        float b = x.get(ib);
        x.set(ia, a * c - b * s);
        x.set(ib, a * s + b * c);
    }

    @Kernel
    public static void ropeTable(KernelContext ctx, F32 x, F32 cos, F32 sin, int tokens, int heads, int headDim,
            int pos, @Const int halfSplit) {
        int half = headDim / 2;
        int id = ctx.globalId(0);
        if (id >= tokens * heads * half) {
            return;
        }
        int i = id % half;
        int row = id / half;
        int t = row / heads;
        long base = (long) row * headDim;
        long ia = halfSplit == 1 ? base + i : base + 2 * i;
        long ib = halfSplit == 1 ? base + i + half : base + 2 * i + 1;
        long k = (long) (pos + t) * half + i;
        float c = cos.get(k);
        float s = sin.get(k);
        float a = x.get(ia);
        float b = x.get(ib);
        x.set(ia, a * c - b * s);
        x.set(ib, a * s + b * c);
    }
}
