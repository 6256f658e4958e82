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

    /**
     * Optionally writes {@code n} rows at once down a panel: {@code dst[off + k·stride + j] = q[row0 + j][k0 + k]}
     * for {@code j < n}, {@code k < kc}, times the row's group scale where {@code scaled} (the product rounded once,
     * as multiplying {@link #decode}'s values gives), with the same bits as {@link #decode}. For layouts that hold a
     * code of many rows side by side (row lanes), where one load gives a column of the panel. Returns false, having
     * written nothing, where the format has no such path for these rows; the caller then decodes them row by row.
     */
    default boolean decodeColumns(W w, int row0, int n, int k0, int kc, boolean scaled, float[] dst, int off,
            int stride) {
        return false;
    }
}
