package dev.gale.kernels.gemm;

/**
 * How {@link GemmBlockScaled} reads a block-scaled integer weight format {@code W}: {@code rows × in} small integer
 * codes {@code q[o][k]} with one scale per row and group of {@link #group} inputs, {@code W[o][k] = s[o][k / group] ·
 * q[o][k]}. A stateless strategy (one instance per format), so calls allocate nothing.
 */
public interface BlockScaledCodec<W> {
    /** Inputs per weight scale; divides {@code in} and the activation scale group. */
    int group(W w);

    /**
     * Writes {@code dst[off + k·stride] = q[row][k0 + k]} for {@code k < kc}, exactly as F32 (the codes are small
     * integers). {@code k0} is a multiple of the group and {@code kc} at most one group.
     */
    void decode(W w, int row, int k0, int kc, float[] dst, int off, int stride);

    /** The scale of row {@code row}'s group {@code g}. */
    float scale(W w, int row, int g);
}
