package dev.gale.kernels.gemm;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;

/**
 * The GEMM of block-scaled integer weights and activations (W4A4/W4A8, {@code dev.gale.kernels.quant.W4AxMatmul}):
 * {@code Y[t][o] = Σ_g sx[t][g·G / XG] · s[o][g] · Σ_{k ∈ group g} X[t][k] · q[o][k]}, weight groups of {@code G}
 * inputs ({@link BlockScaledCodec}), activation codes {@code X} (F32 holding small integers) with one scale per token
 * and block of {@code XG} inputs ({@code XG} a multiple of {@code G}).
 *
 * <p>Runs {@link GemmKernel}'s F32 micro-kernel with input blocks of one group: each weight panel is decoded to F32
 * integers once per group and reused by every token, so the unpacking costs nothing per multiply-add. Each tile's
 * group sums are exact integers when {@code G · max|X| · max|q| < 2^24} (128 · 127 · 8 is 2^17), then scaled by
 * {@code s · sx} and added into {@code Y} in group order: the result is within
 * {@link dev.gale.kernels.Numerics#dotBound} of the exact sum and does not depend on the thread split.
 *
 * <p><b>Paired blocks.</b> Where the caller marks an activation block {@code pairable} (every product of its codes
 * with weight codes in [−56, 64]: W4 weights × A4 activations, codes in [−8, 7]), that block runs {@link PairedTile}: two
 * columns' integer products per F32 lane, the same exact group sums at up to twice the multiply-adds per FMA, hence
 * the same result bit for bit. Other blocks (A8) run the one-product kernel.
 *
 * <p>Layout: {@code X} F32 {@code [tokens][in]} at byte {@code xOff}; {@code sx} F32 {@code [tokens][in / XG]} at
 * {@code sxOff}; {@code Y} F32 {@code [tokens][rows]} at {@code yOff}.
 */
public final class GemmBlockScaled {
    private static final String OP = "gemm block-scaled";

    private GemmBlockScaled() {
    }

    /** All tokens and rows, split over {@link WorkerPool#shared()} like {@link GemmF32#gemm}; no block paired. */
    public static <W> void gemm(BlockScaledCodec<W> codec, W w, MemorySegment x, long xOff, MemorySegment sx,
            long sxOff, int xGroup, MemorySegment y, long yOff, int tokens, int rows, int in) {
        gemm(codec, w, x, xOff, sx, sxOff, xGroup, null, y, yOff, tokens, rows, in);
    }

    /**
     * {@link #gemm} with the activation blocks marked {@code pairable[b]} (one entry per block of {@code xGroup}
     * inputs; null for none) run by the paired kernel. The caller promises {@code −56 ≤ q_w·q_x ≤ 64} for every
     * code of a pairable block: a product outside would break the paired sums' exactness.
     */
    public static <W> void gemm(BlockScaledCodec<W> codec, W w, MemorySegment x, long xOff, MemorySegment sx,
            long sxOff, int xGroup, boolean[] pairable, MemorySegment y, long yOff, int tokens, int rows, int in) {
        GemmKernel.Scaling<W> s = check(codec, w, x, xOff, sx, sxOff, xGroup, pairable, y, yOff, tokens, rows, in);
        GemmKernel.parallel(s, x, xOff, y, yOff, tokens, rows, in);
    }

    /**
     * Rows {@code [rowStart, rowEnd)} of every token on the calling thread; allocates nothing once the thread's
     * scratch has grown to the token count.
     */
    public static <W> void outputs(BlockScaledCodec<W> codec, W w, MemorySegment x, long xOff, MemorySegment sx,
            long sxOff, int xGroup, MemorySegment y, long yOff, int tokens, int rows, int in, int rowStart,
            int rowEnd) {
        outputs(codec, w, x, xOff, sx, sxOff, xGroup, null, y, yOff, tokens, rows, in, rowStart, rowEnd);
    }

    /** {@link #outputs} with pairable activation blocks, as in {@link #gemm(BlockScaledCodec, Object, MemorySegment,
     * long, MemorySegment, long, int, boolean[], MemorySegment, long, int, int, int)}. */
    public static <W> void outputs(BlockScaledCodec<W> codec, W w, MemorySegment x, long xOff, MemorySegment sx,
            long sxOff, int xGroup, boolean[] pairable, MemorySegment y, long yOff, int tokens, int rows, int in,
            int rowStart, int rowEnd) {
        GemmKernel.Scaling<W> s = check(codec, w, x, xOff, sx, sxOff, xGroup, pairable, y, yOff, tokens, rows, in);
        Operands.range(OP, "row", rowStart, rowEnd, rows);
        GemmKernel.outputs(s, x, xOff, y, yOff, tokens, rows, in, rowStart, rowEnd);
    }

    /**
     * {@code Y = X · Wᵀ} for F32 activations {@code X} {@code [tokens][in]} and block-scaled weights (Q4_0/Q8_0
     * prefill): the F32 GEMM with each weight panel dequantized ({@code s·q}, one rounding, the weight itself) while
     * it is packed, so the decoding is shared by every token of the block. All tokens and rows, split over
     * {@link WorkerPool#shared()} like {@link GemmF32#gemm}; the error bound is {@link GemmF32}'s for the dequantized
     * weights.
     */
    public static <W> void gemmDequantized(BlockScaledCodec<W> codec, W w, MemorySegment x, long xOff,
            MemorySegment y, long yOff, int tokens, int rows, int in) {
        GemmKernel.parallel(checkDequantized(codec, w, x, xOff, y, yOff, tokens, rows, in), x, xOff, y, yOff, tokens,
                rows, in);
    }

    /** {@link #gemmDequantized}'s rows {@code [rowStart, rowEnd)} of every token, on the calling thread. */
    public static <W> void outputsDequantized(BlockScaledCodec<W> codec, W w, MemorySegment x, long xOff,
            MemorySegment y, long yOff, int tokens, int rows, int in, int rowStart, int rowEnd) {
        GemmKernel.Scaling<W> s = checkDequantized(codec, w, x, xOff, y, yOff, tokens, rows, in);
        Operands.range(OP, "row", rowStart, rowEnd, rows);
        GemmKernel.outputs(s, x, xOff, y, yOff, tokens, rows, in, rowStart, rowEnd);
    }

    private static <W> GemmKernel.Scaling<W> checkDequantized(BlockScaledCodec<W> codec, W w, MemorySegment x,
            long xOff, MemorySegment y, long yOff, int tokens, int rows, int in) {
        Operands.dims(OP, tokens, rows, in);
        int group = codec.group(w);
        if (group <= 0 || in % group != 0) {
            throw new dev.gale.core.ShapeMismatchException(OP + ": weight group " + group + " must divide " + in
                    + " inputs");
        }
        Operands.matrix(OP, "X (activations)", x, xOff, tokens, in, Float.BYTES, "F32");
        Operands.matrix(OP, "Y (output)", y, yOff, tokens, rows, Float.BYTES, "F32");
        return new GemmKernel.Scaling<>(codec, w, group, null, 0, in, 1, null);
    }

    /**
     * Whether pairable blocks run the paired kernel in this JVM: false below 256-bit vectors, where an override of
     * the tile leaves the packed weight block without whole paired panels, or with {@code -Dgale.gemm.paired=false};
     * they then run the one-product kernel, with the same result.
     */
    public static boolean pairs() {
        return PairedTile.ENABLED;
    }

    private static <W> GemmKernel.Scaling<W> check(BlockScaledCodec<W> codec, W w, MemorySegment x, long xOff,
            MemorySegment sx, long sxOff, int xGroup, boolean[] pairable, MemorySegment y, long yOff, int tokens,
            int rows, int in) {
        Operands.dims(OP, tokens, rows, in);
        int group = codec.group(w);
        if (group <= 0 || in % group != 0 || xGroup <= 0 || xGroup % group != 0 || in % xGroup != 0) {
            throw new dev.gale.core.ShapeMismatchException(OP + ": weight group " + group + " and activation group "
                    + xGroup + " must divide " + in + " inputs, the weight group dividing the activation group");
        }
        Operands.matrix(OP, "X (activation codes)", x, xOff, tokens, in, Float.BYTES, "F32");
        Operands.matrix(OP, "sx (activation scales)", sx, sxOff, tokens, in / xGroup, Float.BYTES, "F32");
        Operands.matrix(OP, "Y (output)", y, yOff, tokens, rows, Float.BYTES, "F32");
        if (pairable != null && pairable.length != in / xGroup) {
            throw new dev.gale.core.ShapeMismatchException(OP + ": " + pairable.length + " pairable flags for "
                    + in / xGroup + " activation blocks");
        }
        return new GemmKernel.Scaling<>(codec, w, group, sx, sxOff, xGroup, in / xGroup,
                pairable == null ? null : pairable.clone());
    }
}
