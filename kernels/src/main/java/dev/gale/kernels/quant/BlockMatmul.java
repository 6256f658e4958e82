package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.QK;
import static dev.gale.kernels.quant.QuantVectors.f16;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@code Y[tokens][rows] = X[tokens][in] · Wᵀ} with weights {@code W[rows][in]} in one of llama.cpp's block formats of
 * 32 elements and an fp16 scale, read where they lie (no repacking): {@link Q4_0Matmul#INSTANCE},
 * {@link Q8_0Matmul#INSTANCE}. GEMV is {@code tokens == 1}. {@code Y[t][r]} is the F32 at {@code yOff + 4·(t·rows + r)}.
 * <b>For decode use the repacked layouts</b> ({@link Q4_0Lanes}, {@link Q8_0Lanes}, {@link Q4_0Packed},
 * {@link Q8_0Packed}); these are the baselines on the load format and hold the scalar references (the definition every
 * other kernel of the format is tested against).
 *
 * <p>This class owns what the formats share: the scalar references (over {@link #code}, a block element as the integer
 * its scale multiplies), the split over threads and calls, the F32 tile's L2 blocking, and the argument checks. A format
 * supplies its four-row and one-row vector kernels for each activation type and its 2×4 / 1×4 F32 tiles. Two activation
 * types:
 * <ul>
 *   <li>{@link Q8Activations} (int8 blocks): per block an exact integer dot (the weights' codes and the activation bytes
 *       widened to F32 lanes, where every partial sum is an integer below 2^24 and so exact), then one F32 FMA with
 *       {@code d_w·d_x}. Only the F32 accumulation of block results differs from {@link #reference} in order.</li>
 *   <li>F32 activations: weights dequantized in registers. One token at a time is a 4-row pass (each activation vector
 *       feeds 4 rows); from {@link #TILE_MIN_TOKENS} tokens up a 2-row × 4-token register tile reuses each decoded
 *       weight vector across 4 tokens, blocked over {@code in} so the weight panel stays in L2.</li>
 * </ul>
 * Row-range entry points run on the calling thread and allocate nothing; the {@code Parallel} ones split rows over
 * {@link WorkerPool#shared()} in groups of 4. Stateless; safe to share between threads.
 */
public abstract sealed class BlockMatmul permits Q4_0Matmul, Q8_0Matmul {
    /** Tokens whose Q8 activations stay cache-resident while 4-row groups sweep over them. */
    private static final int TOKEN_BLOCK = 64;
    /** F32 tile: rows of an L2 panel and blocks of {@code in} per panel pass. */
    private static final int PANEL_ROWS = 128;
    private static final int PANEL_BLOCKS = 16;
    /** From this many tokens the F32 path uses the 2×4 tile. */
    private static final int TILE_MIN_TOKENS = 4;

    /** Bytes of one block (fp16 scale, then the codes). */
    final int blockBytes;
    /** What the argument checks name, built once: a concatenation per call would allocate on the hot path. */
    private final String matmulWhat;
    private final String rowsWhat;
    private final String tokensWhat;
    private final String weightsWhat;
    private final String activationsWhat;
    private final String outputWhat;

    BlockMatmul(String format, int blockBytes) {
        this.blockBytes = blockBytes;
        this.matmulWhat = format + " matmul";
        this.rowsWhat = matmulWhat + " rows";
        this.tokensWhat = matmulWhat + " tokens";
        this.weightsWhat = matmulWhat + " weights";
        this.activationsWhat = matmulWhat + " activations";
        this.outputWhat = matmulWhat + " output";
    }

    /** Implementation the non-reference entry points run on this machine. */
    public static String path() {
        return QuantVectors.PATH;
    }

    /** Parallel grain in 4-row groups: about 64 KiB of weights per chunk at least, so tiny ops stay on one thread. */
    static int grain(int in, int tokens) {
        long work = (long) in * Math.max(1, tokens) * 4;
        return (int) Math.max(1, Math.min(1 << 20, (1L << 16) / Math.max(1, work)));
    }

    /** Bytes of one row of {@code in} elements: the format's own rule ({@link Q4_0#rowBytes}, {@link Q8_0#rowBytes}). */
    abstract long rowBytes(int in);

    /** Element {@code j} (0..31) of the block at byte {@code o}, as the integer its fp16 scale multiplies. */
    abstract int code(MemorySegment w, long o, int j);

    // ------------------------------------------------------------------ a format's kernels

    /**
     * Rows at {@code w0 + k·rb} (k < 4) · one token's Q8 codes at {@code aq} (per block scale at {@code as}, code sum at
     * {@code asum}), {@code nb} blocks; the 4 outputs at {@code yo}, 4 bytes apart.
     */
    abstract void q8x4(MemorySegment w, long w0, long rb, MemorySegment a, long aq, long as, long asum, int nb,
            MemorySegment y, long yo);

    /** One row at {@code w0} · one token's Q8 codes; the output at {@code yo}. */
    abstract void q8x1(MemorySegment w, long w0, MemorySegment a, long aq, long as, long asum, int nb,
            MemorySegment y, long yo);

    /** Rows at {@code w0 + k·rb} (k < 4) · one F32 token at {@code xo}; the outputs at {@code yo + k·ys}. */
    abstract void f32x4(MemorySegment w, long w0, long rb, MemorySegment x, long xo, int nb, MemorySegment y,
            long yo, long ys);

    /** One row at {@code w0} · one F32 token at {@code xo}; the output at {@code yo}. */
    abstract void f32x1(MemorySegment w, long w0, MemorySegment x, long xo, int nb, MemorySegment y, long yo);

    /**
     * Rows {@code w0}, {@code w0 + rb} × tokens at {@code xo + k·xs} (k < 4) over blocks {@code [b0, b1)}, each weight
     * vector decoded and scaled once for the 4 tokens; outputs at {@code yo + k·ys} (second row 4 bytes on), added into
     * Y unless {@code first} ({@link #store}).
     */
    abstract void tile2x4(MemorySegment w, long w0, long rb, int b0, int b1, MemorySegment x, long xo, long xs,
            MemorySegment y, long yo, long ys, boolean first);

    /** {@link #tile2x4} for one row. */
    abstract void tile1x4(MemorySegment w, long w0, int b0, int b1, MemorySegment x, long xo, long xs,
            MemorySegment y, long yo, long ys, boolean first);

    /** A tile's output: takes the reduced float, not the vector (a vector argument would be boxed if not inlined). */
    static void store(MemorySegment y, long off, boolean first, float v) {
        y.set(F32, off, first ? v : y.get(F32, off) + v);
    }

    // ------------------------------------------------------------------ Q8 activations

    /** Scalar reference: {@code Y[t][r] = Σ_b (d_w·d_x)·Σ_j code_j·x_q}, blocks summed in order in F32. */
    public final void reference(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y,
            long yOff) {
        check(w, wOff, rows, in, x, y, yOff);
        referenceRowsQ8(w, wOff, rows, in, x, y, yOff, 0, rows);
    }

    /** All rows, split over the shared worker pool in groups of 4. */
    public final void matmulParallel(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y,
            long yOff) {
        check(w, wOff, rows, in, x, y, yOff);
        int groups = (rows + 3) / 4;
        WorkerPool.shared().parallelFor(groups, grain(in, x.tokens()),
                (s, e) -> rowsQ8(w, wOff, rows, in, x, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread; allocates nothing. */
    public final void matmul(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y,
            long yOff, int rowStart, int rowEnd) {
        check(w, wOff, rows, in, x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        rowsQ8(w, wOff, rows, in, x, y, yOff, rowStart, rowEnd);
    }

    private void rowsQ8(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y, long yOff,
            int rowStart, int rowEnd) {
        if (!QuantVectors.VECTOR_OK) {
            referenceRowsQ8(w, wOff, rows, in, x, y, yOff, rowStart, rowEnd);
            return;
        }
        long rb = rowBytes(in);
        int nb = in / QK;
        int tokens = x.tokens();
        MemorySegment a = x.segment();
        for (int t0 = 0; t0 < tokens; t0 += TOKEN_BLOCK) {
            int t1 = Math.min(tokens, t0 + TOKEN_BLOCK);
            int r = rowStart;
            for (; r + 4 <= rowEnd; r += 4) {
                for (int t = t0; t < t1; t++) {
                    q8x4(w, wOff + r * rb, rb, a, x.qOffset(t), x.scaleOffset(t), x.sumOffset(t), nb, y,
                            yOff + 4L * ((long) t * rows + r));
                }
            }
            for (; r < rowEnd; r++) {
                for (int t = t0; t < t1; t++) {
                    q8x1(w, wOff + r * rb, a, x.qOffset(t), x.scaleOffset(t), x.sumOffset(t), nb, y,
                            yOff + 4L * ((long) t * rows + r));
                }
            }
        }
    }

    private void referenceRowsQ8(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y,
            long yOff, int rowStart, int rowEnd) {
        long rb = rowBytes(in);
        int nb = in / QK;
        MemorySegment a = x.segment();
        for (int t = 0; t < x.tokens(); t++) {
            for (int r = rowStart; r < rowEnd; r++) {
                float sum = 0;
                for (int b = 0; b < nb; b++) {
                    long o = wOff + r * rb + (long) b * blockBytes;
                    int isum = 0;
                    for (int j = 0; j < QK; j++) {
                        isum += code(w, o, j) * a.get(ValueLayout.JAVA_BYTE, x.qOffset(t) + (long) b * QK + j);
                    }
                    sum += (f16(w, o) * x.scale(t, b)) * isum;
                }
                y.set(F32, yOff + 4L * ((long) t * rows + r), sum);
            }
        }
    }

    // ------------------------------------------------------------------ F32 activations

    /** Scalar reference: {@code Y[t][r] = Σ_b d_w·Σ_j code_j·x_j}, in order, in F32. */
    public final void referenceF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff) {
        checkF32(w, wOff, rows, in, x, xOff, tokens, y, yOff);
        referenceRowsF32(w, wOff, rows, in, x, xOff, tokens, y, yOff, 0, rows);
    }

    final void referenceRowsF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        long rb = rowBytes(in);
        int nb = in / QK;
        for (int t = 0; t < tokens; t++) {
            for (int r = rowStart; r < rowEnd; r++) {
                float sum = 0;
                for (int b = 0; b < nb; b++) {
                    long o = wOff + r * rb + (long) b * blockBytes;
                    float bs = 0;
                    for (int j = 0; j < QK; j++) {
                        bs += code(w, o, j) * x.get(F32, xOff + 4L * ((long) t * in + (long) b * QK + j));
                    }
                    sum += f16(w, o) * bs;
                }
                y.set(F32, yOff + 4L * ((long) t * rows + r), sum);
            }
        }
    }

    /** All rows, split over the shared worker pool. */
    public final void matmulF32Parallel(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff) {
        checkF32(w, wOff, rows, in, x, xOff, tokens, y, yOff);
        int groups = (rows + 3) / 4;
        WorkerPool.shared().parallelFor(groups, grain(in, tokens),
                (s, e) -> rowsF32(w, wOff, rows, in, x, xOff, tokens, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread; allocates nothing. */
    public final void matmulF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff, int tokens,
            MemorySegment y, long yOff, int rowStart, int rowEnd) {
        checkF32(w, wOff, rows, in, x, xOff, tokens, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        rowsF32(w, wOff, rows, in, x, xOff, tokens, y, yOff, rowStart, rowEnd);
    }

    private void rowsF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff, int tokens,
            MemorySegment y, long yOff, int rowStart, int rowEnd) {
        if (!QuantVectors.VECTOR_OK) {
            referenceRowsF32(w, wOff, rows, in, x, xOff, tokens, y, yOff, rowStart, rowEnd);
            return;
        }
        long rb = rowBytes(in);
        int nb = in / QK;
        long xs = 4L * in;
        int tiled = tokens >= TILE_MIN_TOKENS ? tokens - tokens % 4 : 0;
        if (tiled > 0) {
            for (int p0 = rowStart; p0 < rowEnd; p0 += PANEL_ROWS) {
                int p1 = Math.min(rowEnd, p0 + PANEL_ROWS);
                for (int b0 = 0; b0 < nb; b0 += PANEL_BLOCKS) {
                    int b1 = Math.min(nb, b0 + PANEL_BLOCKS);
                    boolean first = b0 == 0;
                    for (int t = 0; t < tiled; t += 4) {
                        long xo = xOff + t * xs;
                        long yo = yOff + 4L * ((long) t * rows);
                        int r = p0;
                        for (; r + 2 <= p1; r += 2) {
                            tile2x4(w, wOff + r * rb, rb, b0, b1, x, xo, xs, y, yo + 4L * r, 4L * rows, first);
                        }
                        if (r < p1) {
                            tile1x4(w, wOff + r * rb, b0, b1, x, xo, xs, y, yo + 4L * r, 4L * rows, first);
                        }
                    }
                }
            }
        }
        for (int t = tiled; t < tokens; t++) {
            long xo = xOff + t * xs;
            int r = rowStart;
            for (; r + 4 <= rowEnd; r += 4) {
                f32x4(w, wOff + r * rb, rb, x, xo, nb, y, yOff + 4L * ((long) t * rows + r), 4);
            }
            for (; r < rowEnd; r++) {
                f32x1(w, wOff + r * rb, x, xo, nb, y, yOff + 4L * ((long) t * rows + r));
            }
        }
    }

    // ------------------------------------------------------------------ checks

    private void check(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y, long yOff) {
        QuantVectors.requireBlocks(in, matmulWhat);
        QuantVectors.requirePositive(rows, rowsWhat);
        if (x.in() != in) {
            throw new ShapeMismatchException(matmulWhat + ": weights have " + in + " columns but the activations "
                    + x.in());
        }
        QuantVectors.requireBytes(w, wOff, rows * rowBytes(in), weightsWhat);
        QuantVectors.requireBytes(y, yOff, 4L * rows * x.tokens(), outputWhat);
    }

    final void checkF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff, int tokens,
            MemorySegment y, long yOff) {
        QuantVectors.requireBlocks(in, matmulWhat);
        QuantVectors.requirePositive(rows, rowsWhat);
        QuantVectors.requirePositive(tokens, tokensWhat);
        QuantVectors.requireBytes(w, wOff, rows * rowBytes(in), weightsWhat);
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, activationsWhat);
        QuantVectors.requireBytes(y, yOff, 4L * rows * tokens, outputWhat);
    }
}
