package dev.gale.kernels.quant;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.I8;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;
import dev.gale.core.kernel.U8;

/**
 * Q8_0 and Q4_0 matrix products with F32 activations as device kernels, {@code Y[t][r] = Σ_b d_b · Σ_j q_j ·
 * X[t][32b + j]}, on llama.cpp's blocks read as raw bytes: {@code block_q8_0} = fp16 {@code d}, 32 signed bytes
 * (34 B, an {@link I8} buffer); {@code block_q4_0} = fp16 {@code d}, 16 bytes whose byte {@code j} holds element
 * {@code j} in the low nibble and {@code j + 16} in the high one, value {@code d·(nib − 8)} (18 B, a {@link U8}
 * buffer). Rows are {@code in / 32} blocks back to back; {@code in} must be a multiple of 32. Argument order:
 * weights, activations, output, {@code rows, in} (and {@code tokens} for the GEMMs), as
 * {@code Q8_0Matmul/Q4_0Matmul.referenceF32} with the offsets dropped. The fp16 scale is decoded with bit operations
 * (exact, subnormals and Inf/NaN included), so no device fp16 support is needed.
 *
 * <p>GEMV geometry: one item per output row, walking that row's blocks contiguously, with sixteen accumulators
 * (lane {@code j} takes elements {@code j} and {@code j + 16} of every block, scaled by the block's {@code d}),
 * added in a chain at the end: per item the same shape as the Vector API kernels' lanes, which a CPU OpenCL compiler
 * can vectorise within the item. GEMM geometry: one item per (row, group of four tokens), a register tile of four
 * tokens × eight lanes.
 *
 * <p>On PoCL (LLVM 15, 2 shared cores, medians of 21 launches, ratios in one process by
 * {@code dev.gale.tests.DeviceGemvTiming}): {@link #q4Gemv} at 14336×16384 (126 MiB) took 76 ms against 136 ms for
 * {@code Q4_0Matmul.matmulF32Parallel}, and 4.9 against 7.6 ms at 4096²; {@link #q8Gemv} at 4096² 8.1 against
 * 5.5 ms. LLVM vectorises the per-item block loop (8-wide) only when nothing in it branches or selects and the
 * accumulators are summed in a plain chain at the end: with the first fp16 decode (early returns) and a tree-shaped
 * final sum the same kernels took about twice as long. {@link #q4GemvGroup} (GPU-style, a work group per row) was
 * 2-4× slower than {@link #q4Gemv} there. The graph op's one-token device path no longer uses {@link #q4Gemv} and
 * {@link #q8Gemv}: {@link SplitGemvKernels} read the weights with the scales split out ({@link SplitBlocks}), which
 * removes the fp16 decode and the lane shuffles from the block loop (about 2.5× fewer instructions per block); these
 * two stay as the block-layout baseline of the bench.
 *
 * <p>Numerics: the summation order differs from the reference's (which sums each block in order, then the blocks in
 * order); the rounding error stays within {@code Numerics.dotBound(Σ|d·q·x|, in)}.
 */
public final class QuantKernels {
    /** Elements per block. */
    static final int QK = 32;

    private QuantKernels() {
    }

    /**
     * IEEE half bits (low 16 bits of {@code bits}) to float, exactly, without branches or selects (a branchy decode
     * kept LLVM from vectorising the block loop on PoCL): the magnitude is {@code (mant + 1024·[exp > 0]) · 2^(max(exp,
     * 1) − 25)}, a product of an 11-bit integer and a normal power of two, so subnormal halves never make a subnormal
     * float; for {@code exp == 31} the power of two is built as Inf (or a NaN when {@code mant != 0}); the sign bit is
     * OR-ed in last.
     */
    @DeviceFunction
    static float halfToFloat(int bits) {
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        int hasExp = (exp + 31) >>> 5;
        int inf = (exp + 1) >>> 5;
        float scale = Float.intBitsToFloat(((exp + 103 - hasExp + inf * 122) << 23) | (inf * (mant << 13)));
        float mag = (float) (mant + (hasExp << 10)) * scale;
        return Float.intBitsToFloat(Float.floatToRawIntBits(mag) | ((bits & 0x8000) << 16));
    }

    /** The fp16 scale at byte {@code p} of a Q8_0 row. */
    @DeviceFunction
    static float scaleQ8(I8 w, long p) {
        return halfToFloat((w.get(p) & 0xFF) | ((w.get(p + 1) & 0xFF) << 8));
    }

    /** The fp16 scale at byte {@code p} of a Q4_0 row. */
    @DeviceFunction
    static float scaleQ4(U8 w, long p) {
        return halfToFloat(w.get(p) | (w.get(p + 1) << 8));
    }

    /** Elements {@code j} and {@code j + 16} of the Q8_0 block whose quants start at {@code q}, times X. */
    @DeviceFunction
    static float q8Pair(I8 w, F32 x, long q, long xb, int j) {
        return (float) w.get(q + j) * x.get(xb + j) + (float) w.get(q + 16 + j) * x.get(xb + 16 + j);
    }

    /** Elements {@code j} (low nibble) and {@code j + 16} (high nibble) of byte {@code j} of a Q4_0 block, times X. */
    @DeviceFunction
    static float q4Pair(U8 w, F32 x, long q, long xb, int j) {
        int v = w.get(q + j);
        return (float) ((v & 0xF) - 8) * x.get(xb + j) + (float) ((v >>> 4) - 8) * x.get(xb + 16 + j);
    }

    /** Elements {@code j, j + 8, j + 16, j + 24} of the Q8_0 block whose quants start at {@code q}, times X. */
    @DeviceFunction
    static float q8Quad(I8 w, F32 x, long q, long xb, int j) {
        return q8Pair(w, x, q, xb, j) + q8Pair(w, x, q, xb, j + 8);
    }

    /** Elements {@code j, j + 8, j + 16, j + 24} of the Q4_0 block whose quants start at {@code q}, times X. */
    @DeviceFunction
    static float q4Quad(U8 w, F32 x, long q, long xb, int j) {
        return q4Pair(w, x, q, xb, j) + q4Pair(w, x, q, xb, j + 8);
    }

    /** {@code Σ_j (nib_j − 8) · X[xb + j]} over one Q4_0 block, in four chains. */
    @DeviceFunction
    static float q4Block(U8 w, F32 x, long q, long xb) {
        float s0 = 0.0f;
        float s1 = 0.0f;
        float s2 = 0.0f;
        float s3 = 0.0f;
        s0 += q4Pair(w, x, q, xb, 0);
        s1 += q4Pair(w, x, q, xb, 1);
        s2 += q4Pair(w, x, q, xb, 2);
        s3 += q4Pair(w, x, q, xb, 3);
        s0 += q4Pair(w, x, q, xb, 4);
        s1 += q4Pair(w, x, q, xb, 5);
        s2 += q4Pair(w, x, q, xb, 6);
        s3 += q4Pair(w, x, q, xb, 7);
        s0 += q4Pair(w, x, q, xb, 8);
        s1 += q4Pair(w, x, q, xb, 9);
        s2 += q4Pair(w, x, q, xb, 10);
        s3 += q4Pair(w, x, q, xb, 11);
        s0 += q4Pair(w, x, q, xb, 12);
        s1 += q4Pair(w, x, q, xb, 13);
        s2 += q4Pair(w, x, q, xb, 14);
        s3 += q4Pair(w, x, q, xb, 15);
        return (s0 + s1) + (s2 + s3);
    }

    /** Q8_0 GEMV: one item per output row, {@code Grid.of1(roundUp(rows, local), local)}; {@code in % 32 == 0}. */
    @Kernel
    public static void q8Gemv(KernelContext ctx, I8 w, F32 x, F32 y, int rows, int in) {
        int o = ctx.globalId(0);
        if (o >= rows) {
            return;
        }
        int nb = in / QK;
        long row = (long) o * nb * 34;
        float a0 = 0.0f;
        float a1 = 0.0f;
        float a2 = 0.0f;
        float a3 = 0.0f;
        float a4 = 0.0f;
        float a5 = 0.0f;
        float a6 = 0.0f;
        float a7 = 0.0f;
        float a8 = 0.0f;
        float a9 = 0.0f;
        float a10 = 0.0f;
        float a11 = 0.0f;
        float a12 = 0.0f;
        float a13 = 0.0f;
        float a14 = 0.0f;
        float a15 = 0.0f;
        for (int b = 0; b < nb; b++) {
            long p = row + (long) b * 34;
            float d = scaleQ8(w, p);
            long q = p + 2;
            long xb = (long) b * QK;
            a0 += d * q8Pair(w, x, q, xb, 0);
            a1 += d * q8Pair(w, x, q, xb, 1);
            a2 += d * q8Pair(w, x, q, xb, 2);
            a3 += d * q8Pair(w, x, q, xb, 3);
            a4 += d * q8Pair(w, x, q, xb, 4);
            a5 += d * q8Pair(w, x, q, xb, 5);
            a6 += d * q8Pair(w, x, q, xb, 6);
            a7 += d * q8Pair(w, x, q, xb, 7);
            a8 += d * q8Pair(w, x, q, xb, 8);
            a9 += d * q8Pair(w, x, q, xb, 9);
            a10 += d * q8Pair(w, x, q, xb, 10);
            a11 += d * q8Pair(w, x, q, xb, 11);
            a12 += d * q8Pair(w, x, q, xb, 12);
            a13 += d * q8Pair(w, x, q, xb, 13);
            a14 += d * q8Pair(w, x, q, xb, 14);
            a15 += d * q8Pair(w, x, q, xb, 15);
        }
        // a plain chain: the tree-shaped sum of the accumulators kept LLVM from vectorising the loop on PoCL
        y.set(o, a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
    }

    /** Q4_0 GEMV: one item per output row, {@code Grid.of1(roundUp(rows, local), local)}; {@code in % 32 == 0}. */
    @Kernel
    public static void q4Gemv(KernelContext ctx, U8 w, F32 x, F32 y, int rows, int in) {
        int o = ctx.globalId(0);
        if (o >= rows) {
            return;
        }
        int nb = in / QK;
        long row = (long) o * nb * 18;
        float a0 = 0.0f;
        float a1 = 0.0f;
        float a2 = 0.0f;
        float a3 = 0.0f;
        float a4 = 0.0f;
        float a5 = 0.0f;
        float a6 = 0.0f;
        float a7 = 0.0f;
        float a8 = 0.0f;
        float a9 = 0.0f;
        float a10 = 0.0f;
        float a11 = 0.0f;
        float a12 = 0.0f;
        float a13 = 0.0f;
        float a14 = 0.0f;
        float a15 = 0.0f;
        for (int b = 0; b < nb; b++) {
            long p = row + (long) b * 18;
            float d = scaleQ4(w, p);
            long q = p + 2;
            long xb = (long) b * QK;
            a0 += d * q4Pair(w, x, q, xb, 0);
            a1 += d * q4Pair(w, x, q, xb, 1);
            a2 += d * q4Pair(w, x, q, xb, 2);
            a3 += d * q4Pair(w, x, q, xb, 3);
            a4 += d * q4Pair(w, x, q, xb, 4);
            a5 += d * q4Pair(w, x, q, xb, 5);
            a6 += d * q4Pair(w, x, q, xb, 6);
            a7 += d * q4Pair(w, x, q, xb, 7);
            a8 += d * q4Pair(w, x, q, xb, 8);
            a9 += d * q4Pair(w, x, q, xb, 9);
            a10 += d * q4Pair(w, x, q, xb, 10);
            a11 += d * q4Pair(w, x, q, xb, 11);
            a12 += d * q4Pair(w, x, q, xb, 12);
            a13 += d * q4Pair(w, x, q, xb, 13);
            a14 += d * q4Pair(w, x, q, xb, 14);
            a15 += d * q4Pair(w, x, q, xb, 15);
        }
        // a plain chain: the tree-shaped sum of the accumulators kept LLVM from vectorising the loop on PoCL
        y.set(o, a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
    }

    /**
     * Q8_0 GEMM: one item per (output row, four tokens), {@code Grid.of2(roundUp(rows, lx), roundUp(ceil(tokens /
     * 4), ly), lx, ly)}; a register tile of four tokens × eight lanes (lane {@code j} takes elements {@code j, j + 8,
     * j + 16, j + 24} of every block), so the row's blocks are read once per four tokens and the block loop has the
     * branch-free shape LLVM vectorises; tokens past the end re-read the last token and write nothing.
     */
    @Kernel
    public static void q8Gemm(KernelContext ctx, I8 w, F32 x, F32 y, int rows, int in, int tokens) {
        int o = ctx.globalId(0);
        int t0 = ctx.globalId(1) * 4;
        if (o >= rows || t0 >= tokens) {
            return;
        }
        int nb = in / QK;
        long row = (long) o * nb * 34;
        long x0 = (long) t0 * in;
        long x1 = (long) Math.min(t0 + 1, tokens - 1) * in;
        long x2 = (long) Math.min(t0 + 2, tokens - 1) * in;
        long x3 = (long) Math.min(t0 + 3, tokens - 1) * in;
        float c00 = 0.0f;
        float c01 = 0.0f;
        float c02 = 0.0f;
        float c03 = 0.0f;
        float c04 = 0.0f;
        float c05 = 0.0f;
        float c06 = 0.0f;
        float c07 = 0.0f;
        float c10 = 0.0f;
        float c11 = 0.0f;
        float c12 = 0.0f;
        float c13 = 0.0f;
        float c14 = 0.0f;
        float c15 = 0.0f;
        float c16 = 0.0f;
        float c17 = 0.0f;
        float c20 = 0.0f;
        float c21 = 0.0f;
        float c22 = 0.0f;
        float c23 = 0.0f;
        float c24 = 0.0f;
        float c25 = 0.0f;
        float c26 = 0.0f;
        float c27 = 0.0f;
        float c30 = 0.0f;
        float c31 = 0.0f;
        float c32 = 0.0f;
        float c33 = 0.0f;
        float c34 = 0.0f;
        float c35 = 0.0f;
        float c36 = 0.0f;
        float c37 = 0.0f;
        for (int b = 0; b < nb; b++) {
            long p = row + (long) b * 34;
            float d = scaleQ8(w, p);
            long q = p + 2;
            long xb = (long) b * QK;
            c00 += d * q8Quad(w, x, q, x0 + xb, 0);
            c01 += d * q8Quad(w, x, q, x0 + xb, 1);
            c02 += d * q8Quad(w, x, q, x0 + xb, 2);
            c03 += d * q8Quad(w, x, q, x0 + xb, 3);
            c04 += d * q8Quad(w, x, q, x0 + xb, 4);
            c05 += d * q8Quad(w, x, q, x0 + xb, 5);
            c06 += d * q8Quad(w, x, q, x0 + xb, 6);
            c07 += d * q8Quad(w, x, q, x0 + xb, 7);
            c10 += d * q8Quad(w, x, q, x1 + xb, 0);
            c11 += d * q8Quad(w, x, q, x1 + xb, 1);
            c12 += d * q8Quad(w, x, q, x1 + xb, 2);
            c13 += d * q8Quad(w, x, q, x1 + xb, 3);
            c14 += d * q8Quad(w, x, q, x1 + xb, 4);
            c15 += d * q8Quad(w, x, q, x1 + xb, 5);
            c16 += d * q8Quad(w, x, q, x1 + xb, 6);
            c17 += d * q8Quad(w, x, q, x1 + xb, 7);
            c20 += d * q8Quad(w, x, q, x2 + xb, 0);
            c21 += d * q8Quad(w, x, q, x2 + xb, 1);
            c22 += d * q8Quad(w, x, q, x2 + xb, 2);
            c23 += d * q8Quad(w, x, q, x2 + xb, 3);
            c24 += d * q8Quad(w, x, q, x2 + xb, 4);
            c25 += d * q8Quad(w, x, q, x2 + xb, 5);
            c26 += d * q8Quad(w, x, q, x2 + xb, 6);
            c27 += d * q8Quad(w, x, q, x2 + xb, 7);
            c30 += d * q8Quad(w, x, q, x3 + xb, 0);
            c31 += d * q8Quad(w, x, q, x3 + xb, 1);
            c32 += d * q8Quad(w, x, q, x3 + xb, 2);
            c33 += d * q8Quad(w, x, q, x3 + xb, 3);
            c34 += d * q8Quad(w, x, q, x3 + xb, 4);
            c35 += d * q8Quad(w, x, q, x3 + xb, 5);
            c36 += d * q8Quad(w, x, q, x3 + xb, 6);
            c37 += d * q8Quad(w, x, q, x3 + xb, 7);
        }
        float s0 = c00 + c01 + c02 + c03 + c04 + c05 + c06 + c07;
        float s1 = c10 + c11 + c12 + c13 + c14 + c15 + c16 + c17;
        float s2 = c20 + c21 + c22 + c23 + c24 + c25 + c26 + c27;
        float s3 = c30 + c31 + c32 + c33 + c34 + c35 + c36 + c37;
        long yo = (long) t0 * rows + o;
        y.set(yo, s0);
        if (t0 + 1 < tokens) {
            y.set(yo + rows, s1);
        }
        if (t0 + 2 < tokens) {
            y.set(yo + 2L * rows, s2);
        }
        if (t0 + 3 < tokens) {
            y.set(yo + 3L * rows, s3);
        }
    }

    /**
     * Q4_0 GEMM: one item per (output row, four tokens), {@code Grid.of2(roundUp(rows, lx), roundUp(ceil(tokens /
     * 4), ly), lx, ly)}; a register tile of four tokens × eight lanes (lane {@code j} takes elements {@code j, j + 8,
     * j + 16, j + 24} of every block), so the row's blocks are read once per four tokens and the block loop has the
     * branch-free shape LLVM vectorises; tokens past the end re-read the last token and write nothing.
     */
    @Kernel
    public static void q4Gemm(KernelContext ctx, U8 w, F32 x, F32 y, int rows, int in, int tokens) {
        int o = ctx.globalId(0);
        int t0 = ctx.globalId(1) * 4;
        if (o >= rows || t0 >= tokens) {
            return;
        }
        int nb = in / QK;
        long row = (long) o * nb * 18;
        long x0 = (long) t0 * in;
        long x1 = (long) Math.min(t0 + 1, tokens - 1) * in;
        long x2 = (long) Math.min(t0 + 2, tokens - 1) * in;
        long x3 = (long) Math.min(t0 + 3, tokens - 1) * in;
        float c00 = 0.0f;
        float c01 = 0.0f;
        float c02 = 0.0f;
        float c03 = 0.0f;
        float c04 = 0.0f;
        float c05 = 0.0f;
        float c06 = 0.0f;
        float c07 = 0.0f;
        float c10 = 0.0f;
        float c11 = 0.0f;
        float c12 = 0.0f;
        float c13 = 0.0f;
        float c14 = 0.0f;
        float c15 = 0.0f;
        float c16 = 0.0f;
        float c17 = 0.0f;
        float c20 = 0.0f;
        float c21 = 0.0f;
        float c22 = 0.0f;
        float c23 = 0.0f;
        float c24 = 0.0f;
        float c25 = 0.0f;
        float c26 = 0.0f;
        float c27 = 0.0f;
        float c30 = 0.0f;
        float c31 = 0.0f;
        float c32 = 0.0f;
        float c33 = 0.0f;
        float c34 = 0.0f;
        float c35 = 0.0f;
        float c36 = 0.0f;
        float c37 = 0.0f;
        for (int b = 0; b < nb; b++) {
            long p = row + (long) b * 18;
            float d = scaleQ4(w, p);
            long q = p + 2;
            long xb = (long) b * QK;
            c00 += d * q4Quad(w, x, q, x0 + xb, 0);
            c01 += d * q4Quad(w, x, q, x0 + xb, 1);
            c02 += d * q4Quad(w, x, q, x0 + xb, 2);
            c03 += d * q4Quad(w, x, q, x0 + xb, 3);
            c04 += d * q4Quad(w, x, q, x0 + xb, 4);
            c05 += d * q4Quad(w, x, q, x0 + xb, 5);
            c06 += d * q4Quad(w, x, q, x0 + xb, 6);
            c07 += d * q4Quad(w, x, q, x0 + xb, 7);
            c10 += d * q4Quad(w, x, q, x1 + xb, 0);
            c11 += d * q4Quad(w, x, q, x1 + xb, 1);
            c12 += d * q4Quad(w, x, q, x1 + xb, 2);
            c13 += d * q4Quad(w, x, q, x1 + xb, 3);
            c14 += d * q4Quad(w, x, q, x1 + xb, 4);
            c15 += d * q4Quad(w, x, q, x1 + xb, 5);
            c16 += d * q4Quad(w, x, q, x1 + xb, 6);
            c17 += d * q4Quad(w, x, q, x1 + xb, 7);
            c20 += d * q4Quad(w, x, q, x2 + xb, 0);
            c21 += d * q4Quad(w, x, q, x2 + xb, 1);
            c22 += d * q4Quad(w, x, q, x2 + xb, 2);
            c23 += d * q4Quad(w, x, q, x2 + xb, 3);
            c24 += d * q4Quad(w, x, q, x2 + xb, 4);
            c25 += d * q4Quad(w, x, q, x2 + xb, 5);
            c26 += d * q4Quad(w, x, q, x2 + xb, 6);
            c27 += d * q4Quad(w, x, q, x2 + xb, 7);
            c30 += d * q4Quad(w, x, q, x3 + xb, 0);
            c31 += d * q4Quad(w, x, q, x3 + xb, 1);
            c32 += d * q4Quad(w, x, q, x3 + xb, 2);
            c33 += d * q4Quad(w, x, q, x3 + xb, 3);
            c34 += d * q4Quad(w, x, q, x3 + xb, 4);
            c35 += d * q4Quad(w, x, q, x3 + xb, 5);
            c36 += d * q4Quad(w, x, q, x3 + xb, 6);
            c37 += d * q4Quad(w, x, q, x3 + xb, 7);
        }
        float s0 = c00 + c01 + c02 + c03 + c04 + c05 + c06 + c07;
        float s1 = c10 + c11 + c12 + c13 + c14 + c15 + c16 + c17;
        float s2 = c20 + c21 + c22 + c23 + c24 + c25 + c26 + c27;
        float s3 = c30 + c31 + c32 + c33 + c34 + c35 + c36 + c37;
        long yo = (long) t0 * rows + o;
        y.set(yo, s0);
        if (t0 + 1 < tokens) {
            y.set(yo + rows, s1);
        }
        if (t0 + 2 < tokens) {
            y.set(yo + 2L * rows, s2);
        }
        if (t0 + 3 < tokens) {
            y.set(yo + 3L * rows, s3);
        }
    }

    /**
     * Q4_0 GEMV, the GPU-style geometry kept for comparison: one work group of {@code group} items per output row,
     * {@code Grid.of1(rows · group, group)}; item {@code l} sums blocks {@code l, l + group, …} of the row (adjacent
     * items read adjacent blocks), the partials meet in local memory and item 0 adds them in a plain loop.
     */
    @Kernel
    public static void q4GemvGroup(KernelContext ctx, U8 w, F32 x, F32 y, int rows, int in, @Const int group) {
        float[] scratch = ctx.localFloats(group);
        int lid = ctx.localId(0);
        int o = ctx.groupId(0);
        int nb = in / QK;
        long row = (long) o * nb * 18;
        float s = 0.0f;
        for (int b = lid; b < nb; b += group) {
            long p = row + (long) b * 18;
            s += scaleQ4(w, p) * q4Block(w, x, p + 2, (long) b * QK);
        }
        scratch[lid] = s;
        ctx.barrier();
        if (lid == 0) {
            float total = 0.0f;
            for (int j = 0; j < group; j++) {
                total += scratch[j];
            }
            y.set(o, total);
        }
    }
    /**
     * Dequantizes whole Q8_0 rows picked by {@code ids}: {@code out[t][j] = row ids[t] of w, element j}; one item per
     * output element, {@code Grid.of1(roundUp(tokens·in, local), local)}. An id outside {@code [0, rows)} gives a row
     * of zeros (a device cannot throw; the host paths reject it). This is the embedding lookup of a Q8_0 table.
     */
    @Kernel
    public static void q8Rows(KernelContext ctx, I8 w, I32 ids, F32 out, int rows, int in, int tokens) {
        int i = ctx.globalId(0);
        if (i >= tokens * in) {
            return;
        }
        int t = i / in;
        int j = i % in;
        int id = ids.get(t);
        float v = 0.0f;
        if (id >= 0 && id < rows) {
            long p = ((long) id * (in / QK) + j / QK) * 34;
            v = scaleQ8(w, p) * w.get(p + 2 + j % QK);
        }
        out.set(i, v);
    }

    /** {@link #q8Rows} for Q4_0 rows: element {@code j} of a block is a low nibble for {@code j < 16}. */
    @Kernel
    public static void q4Rows(KernelContext ctx, U8 w, I32 ids, F32 out, int rows, int in, int tokens) {
        int i = ctx.globalId(0);
        if (i >= tokens * in) {
            return;
        }
        int t = i / in;
        int j = i % in;
        int id = ids.get(t);
        float v = 0.0f;
        if (id >= 0 && id < rows) {
            long p = ((long) id * (in / QK) + j / QK) * 18;
            int k = j % QK;
            int b = w.get(p + 2 + k % 16);
            int nib = k < 16 ? b & 0xF : b >>> 4;
            v = scaleQ4(w, p) * (nib - 8);
        }
        out.set(i, v);
    }
}
