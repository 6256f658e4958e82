package dev.gale.kernels.quant;

import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I8;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;
import dev.gale.core.kernel.U8;

/**
 * W4A4 / W4A8 products as device kernels, on the buffers of {@link W4Weights} (codes as a {@link U8} buffer, scales
 * F32) and {@link ActivationQuant} (int8 codes as an {@link I8} buffer, F32 scales per (token, 128-block)); output
 * F32 {@code y[tokens][rows]}. Argument order: weights codes, weight scales, activation codes, activation scales,
 * output, {@code rows, in, group} (and {@code tokens} for the GEMM); {@code in % 128 == 0}, group 32, 64 or 128.
 *
 * <p>Per 128-block, bytes {@code j} and {@code j + 32} of the block give four 32-element pieces with COMET's
 * conversion on {@code uint} values: {@code (v << 28) >> 24} is {@code 16·q} of the low nibble and
 * {@code ((v << 24) >> 24) & −16} of the high one (the sign bit of the nibble lands on the int's). Each piece's dot
 * is an exact int, then one FMA per piece with {@code s_w·s_x/16}, as the Vector API kernel of {@link W4AxMatmul}.
 * No {@code cl_khr_integer_dot_product} here (PoCL lacks it): plain int multiply-adds.
 *
 * <p>GEMV: one item per output row, {@code Grid.of1(roundUp(rows, local), local)}. GEMM: one item per (row, token),
 * {@code Grid.of2(roundUp(rows, lx), roundUp(tokens, ly), lx, ly)}: the baseline geometry, no register tiling.
 */
public final class W4AxKernels {
    private W4AxKernels() {
    }

    /** {@code Y[t][o]} for one token and one row: four exact int piece dots per block, one scale FMA each. */
    @DeviceFunction
    static float rowDot(U8 w, F32 ws, I8 a, F32 as, int o, int t, int in, int group) {
        int blocks = in / 128;
        long wRow = (long) o * (in / 2);
        long sRow = (long) o * (in / group);
        long aTok = (long) t * in;
        long asTok = (long) t * blocks;
        float acc = 0.0f;
        for (int b = 0; b < blocks; b++) {
            long wb = wRow + (long) b * 64;
            long ab = aTok + (long) b * 128;
            int d0 = 0;
            int d1 = 0;
            int d2 = 0;
            int d3 = 0;
            for (int j = 0; j < 32; j++) {
                int v0 = w.get(wb + j);
                int v1 = w.get(wb + 32 + j);
                d0 += ((v0 << 28) >> 24) * a.get(ab + j);
                d1 += ((v1 << 28) >> 24) * a.get(ab + 32 + j);
                d2 += (((v0 << 24) >> 24) & -16) * a.get(ab + 64 + j);
                d3 += (((v1 << 24) >> 24) & -16) * a.get(ab + 96 + j);
            }
            float sx = as.get(asTok + b) * 0.0625f;
            int e = b * 128;
            acc += sx * ws.get(sRow + e / group) * (float) d0;
            acc += sx * ws.get(sRow + (e + 32) / group) * (float) d1;
            acc += sx * ws.get(sRow + (e + 64) / group) * (float) d2;
            acc += sx * ws.get(sRow + (e + 96) / group) * (float) d3;
        }
        return acc;
    }

    /** W4Ax GEMV (decode): one item per output row. */
    @Kernel
    public static void w4axGemv(KernelContext ctx, U8 w, F32 ws, I8 a, F32 as, F32 y, int rows, int in, int group) {
        int o = ctx.globalId(0);
        if (o >= rows) {
            return;
        }
        y.set(o, rowDot(w, ws, a, as, o, 0, in, group));
    }

    /** W4Ax GEMM (prefill): one item per (output row, token). */
    @Kernel
    public static void w4axGemm(KernelContext ctx, U8 w, F32 ws, I8 a, F32 as, F32 y, int rows, int in, int group,
            int tokens) {
        int o = ctx.globalId(0);
        int t = ctx.globalId(1);
        if (o >= rows || t >= tokens) {
            return;
        }
        y.set((long) t * rows + o, rowDot(w, ws, a, as, o, t, in, group));
    }
}
