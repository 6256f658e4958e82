package dev.gale.kernels.quant;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.MemorySegment;

/**
 * How a matmul input of {@code in} channels, already in FMPQ order (its outlier channels first, see
 * {@link FmpqPlan}), fills the W4Ax kernels' 128-channel blocks: the leading {@code eightBitChannels} channels fill
 * A8 blocks, the others A4 blocks, and each region is cut into blocks of 128 consecutive channels whose last one is
 * zero-padded. Block {@code b} holds source channels {@code [start(b), start(b) + length(b))} and zeros after them;
 * the weights' columns are laid out the same way ({@link #spread}), so zero columns meet zero activations.
 *
 * <p>Why padding rather than a smaller block: the kernels' activation scales are per 128-channel block, and a width
 * that is no multiple of 128 (stories260K's 64 and 172), or an outlier count that is no multiple of 128, still gets
 * its own A8 block. Zeros change neither a block's {@code max|x|} (its scale) nor any dot product, so a padded block
 * quantizes its real channels exactly as an unpadded block holding only them would; the cost is the padded width's
 * extra work. A width that is a multiple of 128 with a whole number of A8 blocks is not padded at all (the identity
 * layout, {@link #padded()} false), and then the activations are quantized straight from the producer's buffer.
 *
 * <p>Reading each block is one contiguous range of the producer's output: no gather at run time.
 *
 * <p><b>Activation clipping</b> ({@link #activationClip()}, a plan field the quantizer reads): an A4 block's scale is
 * {@code clip · m/−8} for its signed extreme {@code m}, codes clamped to −8..7. A ratio below 1 saturates the block's
 * few largest values and spends the 16 codes on the bulk: on stories260K the conversion's default 0.9 is the largest
 * single gain of the W4A4 recipe (docs/w4a4.md). 1 is the unclipped rule. A8 blocks are never clipped. The device
 * and fused quantizers must read it too; a quantizer that ignores it computes the unclipped rule.
 */
public final class ChannelBlocks {
    private final int in;
    private final int span;
    private final int eightBitChannels;
    private final int[] start;
    private final int[] length;
    private final boolean[] eightBit;
    private final float activationClip;

    private ChannelBlocks(int in, int span, int eightBitChannels, int[] start, int[] length, boolean[] eightBit,
            float activationClip) {
        if (!(activationClip > 0 && activationClip <= 1)) {
            throw new ShapeMismatchException("channel blocks: activation clip " + activationClip
                    + " outside (0, 1]");
        }
        this.activationClip = activationClip;
        this.in = in;
        this.span = span;
        this.eightBitChannels = eightBitChannels;
        this.start = start;
        this.length = length;
        this.eightBit = eightBit;
    }

    /** The layout of {@code in} channels whose leading {@code eightBitChannels} are A8 (0 = all A4, in = all A8). */
    public static ChannelBlocks split(int in, int eightBitChannels) {
        return split(in, eightBitChannels, W4Weights.BLOCK);
    }

    /**
     * As {@link #split(int, int)} with at most {@code span} source channels per block (32, 64 or 128): the
     * activation scale granularity. A span under 128 gives each run of {@code span} channels its own per-token scale
     * (the block's other channels are zeros), at {@code 128/span} times the work: a choice for narrow models, where
     * a 128-channel scale would cover the whole layer.
     */
    public static ChannelBlocks split(int in, int eightBitChannels, int span) {
        if (span != 32 && span != 64 && span != W4Weights.BLOCK) {
            throw new ShapeMismatchException("channel blocks: span " + span + " is not 32, 64 or 128");
        }
        if (in <= 0) {
            throw new ShapeMismatchException("channel blocks: width " + in + " must be positive");
        }
        if (eightBitChannels < 0 || eightBitChannels > in) {
            throw new ShapeMismatchException("channel blocks: " + eightBitChannels + " A8 channels outside [0, " + in
                    + "]");
        }
        int b8 = blocksOf(eightBitChannels, span);
        int b4 = blocksOf(in - eightBitChannels, span);
        int[] start = new int[b8 + b4];
        int[] length = new int[b8 + b4];
        boolean[] eightBit = new boolean[b8 + b4];
        fill(start, length, 0, 0, eightBitChannels, span);
        fill(start, length, b8, eightBitChannels, in - eightBitChannels, span);
        java.util.Arrays.fill(eightBit, 0, b8, true);
        return new ChannelBlocks(in, span, eightBitChannels, start, length, eightBit, 1f);
    }

    /** This layout with A4 blocks' scales at {@code clip · m/−8} (in (0, 1]; 1 = unclipped). */
    public ChannelBlocks withActivationClip(float clip) {
        return new ChannelBlocks(in, span, eightBitChannels, start, length, eightBit, clip);
    }

    /** The A4 blocks' clip ratio: their scale is {@code activationClip · m/−8} for the signed extreme {@code m}. */
    public float activationClip() {
        return activationClip;
    }

    private static int blocksOf(int channels, int span) {
        return (channels + span - 1) / span;
    }

    private static void fill(int[] start, int[] length, int firstBlock, int from, int channels, int span) {
        for (int b = 0; b < blocksOf(channels, span); b++) {
            start[firstBlock + b] = from + b * span;
            length[firstBlock + b] = Math.min(span, channels - b * span);
        }
    }

    /** Source channels per block at most (the activation scale granularity). */
    public int span() {
        return span;
    }

    /** Source channels. */
    public int in() {
        return in;
    }

    /** The leading channels quantized to 8 bits. */
    public int eightBitChannels() {
        return eightBitChannels;
    }

    public int blocks() {
        return start.length;
    }

    /** Channels the kernels see: {@code 128 · blocks()}. */
    public int width() {
        return start.length * W4Weights.BLOCK;
    }

    /** Whether any block is zero-padded (the layout is not the identity). */
    public boolean padded() {
        return width() != in;
    }

    /** First source channel of block {@code b}. */
    public int start(int b) {
        return start[b];
    }

    /** Source channels in block {@code b} (at most 128; zeros after them). */
    public int length(int b) {
        return length[b];
    }

    /** The precision map for {@link ActivationQuant}: true for the A8 blocks (a copy). */
    public boolean[] eightBit() {
        return eightBit.clone();
    }

    /** Number of A8 blocks. */
    public int eightBitBlocks() {
        int n = 0;
        for (boolean b : eightBit) {
            n += b ? 1 : 0;
        }
        return n;
    }

    /** F32 {@code w[rows][in]} at {@code srcOff} to {@code dst[rows][width()]} at {@code dstOff} in this layout. */
    public void spread(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, int rows) {
        QuantVectors.requireBytes(src, srcOff, 4L * rows * in, "channel blocks source");
        QuantVectors.requireBytes(dst, dstOff, 4L * rows * width(), "channel blocks destination");
        int width = width();
        for (int r = 0; r < rows; r++) {
            long d = dstOff + 4L * r * width;
            dst.asSlice(d, 4L * width).fill((byte) 0);
            for (int b = 0; b < start.length; b++) {
                MemorySegment.copy(src, srcOff + 4L * ((long) r * in + start[b]), dst,
                        d + 4L * b * W4Weights.BLOCK, 4L * length[b]);
            }
        }
    }

    @Override
    public String toString() {
        return in + " channels, " + eightBitChannels + " A8, " + blocks() + " blocks of " + span + " (" + eightBitBlocks()
                + " A8)" + (padded() ? ", zero-padded to " + width() : "")
                + (activationClip < 1 ? ", A4 clipped at " + activationClip + "x" : "");
    }
}
