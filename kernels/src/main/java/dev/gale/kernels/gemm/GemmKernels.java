package dev.gale.kernels.gemm;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Matrix products of a linear layer as device kernels, {@code Y[t][o] = Σ_i X[t][i] · W[o][i]} ({@code Y = X·Wᵀ}),
 * argument order as {@code GemmF32}/{@code GemmF16}: weights, activations, output, then {@code tokens, out, in},
 * then the {@link Const} tile sizes.
 *
 * <p>Geometry (both kernels): work groups of {@code lx × ly} items; a group owns a tile of {@code 2·lx} outputs ×
 * {@code 2·ly} tokens and each item a 2 × 2 register tile: outputs {@code o0 + lx·{0,1}} and tokens
 * {@code t0 + ly·{0,1}}, where {@code o0 = groupId(0)·2lx + localId(0)} and {@code t0 = groupId(1)·2ly + localId(1)}.
 * Launch with {@code Grid.of2(ceil(out / 2lx)·lx, ceil(tokens / 2ly)·ly, lx, ly)}. The inputs are walked in slices of
 * {@code tk}: each slice of the group's {@code 2ly} activation rows and {@code 2lx} weight rows is staged in local
 * memory by all items together (zeros past the edges, so any shape works), a barrier, then every item adds its four
 * products over the slice, a barrier before the next slice.
 *
 * <p>Numerics: each slice is summed into fresh partials that are then added to the running totals (blocked
 * summation), so the rounding error grows like {@code (tk + in/tk)·u·Σ|w·x|}, inside {@code Numerics.dotBound} for
 * {@code tk = 16}. F16 weights are widened exactly to F32 when staged.
 */
public final class GemmKernels {
    private GemmKernels() {
    }

    @Kernel
    public static void gemmF32Tiled(KernelContext ctx, F32 w, F32 x, F32 y, int tokens, int out, int in,
            @Const int lx, @Const int ly, @Const int tk) {
        float[] ws = ctx.localFloats(2 * lx * tk);
        float[] xs = ctx.localFloats(2 * ly * tk);
        int li = ctx.localId(0);
        int lj = ctx.localId(1);
        int items = lx * ly;
        int me = lj * lx + li;
        int oBase = ctx.groupId(0) * 2 * lx;
        int tBase = ctx.groupId(1) * 2 * ly;
        float c00 = 0.0f;
        float c01 = 0.0f;
        float c10 = 0.0f;
        float c11 = 0.0f;
        for (int k0 = 0; k0 < in; k0 += tk) {
            for (int e = me; e < 2 * lx * tk; e += items) {
                int r = e / tk;
                int k = k0 + e % tk;
                int o = oBase + r;
                ws[e] = o < out && k < in ? w.get((long) o * in + k) : 0.0f;
            }
            for (int e = me; e < 2 * ly * tk; e += items) {
                int r = e / tk;
                int k = k0 + e % tk;
                int t = tBase + r;
                xs[e] = t < tokens && k < in ? x.get((long) t * in + k) : 0.0f;
            }
            ctx.barrier();
            float p00 = 0.0f;
            float p01 = 0.0f;
            float p10 = 0.0f;
            float p11 = 0.0f;
            int w0 = li * tk;
            int w1 = (li + lx) * tk;
            int x0 = lj * tk;
            int x1 = (lj + ly) * tk;
            for (int k = 0; k < tk; k++) {
                float a0 = xs[x0 + k];
                float a1 = xs[x1 + k];
                float b0 = ws[w0 + k];
                float b1 = ws[w1 + k];
                p00 += a0 * b0;
                p01 += a0 * b1;
                p10 += a1 * b0;
                p11 += a1 * b1;
            }
            c00 += p00;
            c01 += p01;
            c10 += p10;
            c11 += p11;
            ctx.barrier();
        }
        store(y, tokens, out, tBase + lj, oBase + li, c00);
        store(y, tokens, out, tBase + lj, oBase + li + lx, c01);
        store(y, tokens, out, tBase + lj + ly, oBase + li, c10);
        store(y, tokens, out, tBase + lj + ly, oBase + li + lx, c11);
    }

    @Kernel
    public static void gemmF16Tiled(KernelContext ctx, F16 w, F32 x, F32 y, int tokens, int out, int in,
            @Const int lx, @Const int ly, @Const int tk) {
        float[] ws = ctx.localFloats(2 * lx * tk);
        float[] xs = ctx.localFloats(2 * ly * tk);
        int li = ctx.localId(0);
        int lj = ctx.localId(1);
        int items = lx * ly;
        int me = lj * lx + li;
        int oBase = ctx.groupId(0) * 2 * lx;
        int tBase = ctx.groupId(1) * 2 * ly;
        float c00 = 0.0f;
        float c01 = 0.0f;
        float c10 = 0.0f;
        float c11 = 0.0f;
        for (int k0 = 0; k0 < in; k0 += tk) {
            for (int e = me; e < 2 * lx * tk; e += items) {
                int r = e / tk;
                int k = k0 + e % tk;
                int o = oBase + r;
                ws[e] = o < out && k < in ? w.get((long) o * in + k) : 0.0f;
            }
            for (int e = me; e < 2 * ly * tk; e += items) {
                int r = e / tk;
                int k = k0 + e % tk;
                int t = tBase + r;
                xs[e] = t < tokens && k < in ? x.get((long) t * in + k) : 0.0f;
            }
            ctx.barrier();
            float p00 = 0.0f;
            float p01 = 0.0f;
            float p10 = 0.0f;
            float p11 = 0.0f;
            int w0 = li * tk;
            int w1 = (li + lx) * tk;
            int x0 = lj * tk;
            int x1 = (lj + ly) * tk;
            for (int k = 0; k < tk; k++) {
                float a0 = xs[x0 + k];
                float a1 = xs[x1 + k];
                float b0 = ws[w0 + k];
                float b1 = ws[w1 + k];
                p00 += a0 * b0;
                p01 += a0 * b1;
                p10 += a1 * b0;
                p11 += a1 * b1;
            }
            c00 += p00;
            c01 += p01;
            c10 += p10;
            c11 += p11;
            ctx.barrier();
        }
        store(y, tokens, out, tBase + lj, oBase + li, c00);
        store(y, tokens, out, tBase + lj, oBase + li + lx, c01);
        store(y, tokens, out, tBase + lj + ly, oBase + li, c10);
        store(y, tokens, out, tBase + lj + ly, oBase + li + lx, c11);
    }

    /** Writes {@code Y[t][o] = v} when {@code (t, o)} lies inside the output. */
    @DeviceFunction
    static void store(F32 y, int tokens, int out, int t, int o, float v) {
        if (t < tokens && o < out) {
            y.set((long) t * out + o, v);
        }
    }
}
