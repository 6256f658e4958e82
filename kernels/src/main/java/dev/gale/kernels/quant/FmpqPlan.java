package dev.gale.kernels.quant;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One layer's FMPQ plan (COMET §4.1 items 3-4): a channel permutation that gathers the outlier channels into the
 * leading 128-channel blocks, and the precision map that keeps exactly those blocks in 8 bits.
 *
 * <p><b>Outlier rule</b> (the paper gives none): channels are ranked by their calibration {@code max|x|}, descending,
 * ties to the lower channel index; the top {@code 128·outlierBlocks} fill the first {@code outlierBlocks} blocks (in
 * ascending channel order there), and every other channel follows in ascending order. The number of 8-bit blocks is
 * the knob (COMET keeps it under 20 %); {@link #blocksFor} derives it from a magnitude threshold instead.
 *
 * <p><b>Applying it.</b> {@code perm[p]} is the original channel placed at position {@code p}. The weights' columns
 * are permuted offline ({@link #permuteColumns}); the activations must arrive permuted, which the producer does for
 * free by writing its output channels in permuted order (for an RMSNorm: permute its gain vector and its input's
 * producer, i.e. the residual stream's layout; that wiring belongs to the decoder integration). {@link #permute}
 * permutes one activation row, for tests and calibration. {@code W·x} is unchanged: {@code Σ_c W[o][c]·x[c]} is the
 * same sum in another order.
 *
 * <p><b>In the decoder</b> ({@code dev.gale.models.llama.W4AxConversion}, docs/w4a4.md) the same ideas take a form
 * that also fits widths that are not multiples of 128: the permutation is folded into the residual stream (embedding
 * columns, norm gains, matrix columns and rows) and the feed-forward channels, the A8 part of each input is the
 * prefix holding its outliers (rule: {@code max|x| > factor × median}, factor 2.5 measured best on stories260K), and
 * {@link ChannelBlocks} fills the 128-channel blocks from contiguous runs of at most 32, 64 or 128 channels,
 * zero-padded, so nothing is gathered at run time.
 */
public final class FmpqPlan {
    private final int[] perm;
    private final boolean[] eightBit;

    private FmpqPlan(int[] perm, boolean[] eightBit) {
        this.perm = perm;
        this.eightBit = eightBit;
    }

    /**
     * The plan for per-channel calibration maxima {@code maxAbs} (length a multiple of 128) with
     * {@code outlierBlocks} 8-bit blocks (0 = all A4, no permutation needed but one is still returned: identity).
     */
    public static FmpqPlan fromStatistics(float[] maxAbs, int outlierBlocks) {
        int in = maxAbs.length;
        if (in == 0 || in % W4Weights.BLOCK != 0) {
            throw new ShapeMismatchException("FMPQ: " + in + " channels is not a positive multiple of "
                    + W4Weights.BLOCK);
        }
        int blocks = in / W4Weights.BLOCK;
        if (outlierBlocks < 0 || outlierBlocks > blocks) {
            throw new ShapeMismatchException("FMPQ: " + outlierBlocks + " outlier blocks outside [0, " + blocks + "]");
        }
        Integer[] order = new Integer[in];
        for (int c = 0; c < in; c++) {
            order[c] = c;
        }
        // descending magnitude (NaN statistics rank first: a channel that overflowed is surely an outlier), ties by index
        Arrays.sort(order, (a, b) -> {
            int cmp = Float.compare(Math.abs(maxAbs[b]), Math.abs(maxAbs[a]));
            return cmp != 0 ? cmp : Integer.compare(a, b);
        });
        int k = outlierBlocks * W4Weights.BLOCK;
        boolean[] outlier = new boolean[in];
        for (int i = 0; i < k; i++) {
            outlier[order[i]] = true;
        }
        int[] perm = new int[in];
        int p = 0;
        for (int c = 0; c < in; c++) {
            if (outlier[c]) {
                perm[p++] = c;
            }
        }
        for (int c = 0; c < in; c++) {
            if (!outlier[c]) {
                perm[p++] = c;
            }
        }
        boolean[] eightBit = new boolean[blocks];
        Arrays.fill(eightBit, 0, outlierBlocks, true);
        return new FmpqPlan(perm, eightBit);
    }

    /**
     * Blocks needed to hold every channel whose {@code max|x|} exceeds {@code factor} × the median channel's, capped
     * at {@code maxBlocks}: a threshold form of the rule ("10-100× larger", COMET §4.1 item 1).
     */
    public static int blocksFor(float[] maxAbs, double factor, int maxBlocks) {
        float[] sorted = maxAbs.clone();
        for (int i = 0; i < sorted.length; i++) {
            sorted[i] = Math.abs(sorted[i]);
        }
        Arrays.sort(sorted);
        double median = sorted[sorted.length / 2];
        int n = 0;
        for (float v : maxAbs) {
            if (Math.abs(v) > factor * median) {
                n++;
            }
        }
        return Math.min(maxBlocks, (n + W4Weights.BLOCK - 1) / W4Weights.BLOCK);
    }

    /** Channels. */
    public int in() {
        return perm.length;
    }

    /** {@code perm[p]}: the original channel at position {@code p} (a copy). */
    public int[] permutation() {
        return perm.clone();
    }

    /** The precision map for {@link ActivationQuant}: true for the 8-bit blocks (a copy). */
    public boolean[] eightBit() {
        return eightBit.clone();
    }

    /** Number of 8-bit blocks. */
    public int outlierBlocks() {
        int n = 0;
        for (boolean b : eightBit) {
            n += b ? 1 : 0;
        }
        return n;
    }

    /** {@code dst[p] = src[perm[p]]} for {@code rows} F32 rows of {@link #in()} (activations, or weight columns). */
    public void permute(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, int rows) {
        int in = perm.length;
        QuantVectors.requireBytes(src, srcOff, 4L * rows * in, "FMPQ permute source");
        QuantVectors.requireBytes(dst, dstOff, 4L * rows * in, "FMPQ permute destination");
        for (int r = 0; r < rows; r++) {
            long s = srcOff + 4L * r * in;
            long d = dstOff + 4L * r * in;
            for (int p = 0; p < in; p++) {
                dst.set(QuantVectors.F32, d + 4L * p, src.get(QuantVectors.F32, s + 4L * perm[p]));
            }
        }
    }

    /** A weight matrix {@code [rows][in]}'s columns permuted to match (the same map as {@link #permute}). */
    public void permuteColumns(MemorySegment w, long wOff, MemorySegment dst, long dstOff, int rows) {
        permute(w, wOff, dst, dstOff, rows);
    }
}
