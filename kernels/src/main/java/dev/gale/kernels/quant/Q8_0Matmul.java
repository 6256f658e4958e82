package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.B;
import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;
import static dev.gale.kernels.quant.QuantVectors.f16;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@code Y[tokens][rows] = X[tokens][in] · Wᵀ} with Q8_0 weights {@code W[rows][in]} in llama.cpp's block layout
 * (read directly, no repacking). GEMV is {@code tokens == 1}. <b>For decode use {@link Q8_0Packed}</b> (repacked once);
 * this class is the baseline on the load format, holds the scalar references, and runs prefill (its 2×4 F32 tile). {@code Y[t][r]} is the F32 at
 * {@code yOff + 4·(t·rows + r)}.
 *
 * <p>Two activation types:
 * <ul>
 *   <li>{@link Q8Activations} (int8 blocks): per block an exact integer dot {@code Σ w_q·x_q} (bytes widened to
 *       F32 lanes, where every partial sum is an integer below 2^24 and so exact), then one F32 FMA with
 *       {@code d_w·d_x}. The integer sums are exact; only the
 *       F32 accumulation of block results differs from {@link #reference} in order.</li>
 *   <li>F32 activations: weights dequantized in registers. One token at a time is a 4-row pass (each activation
 *       vector feeds 4 rows); from 4 tokens up a 2-row × 4-token register tile reuses each decoded weight vector
 *       across 4 tokens, blocked over {@code in} so the weight panel stays in L2.</li>
 * </ul>
 * Row-range entry points run on the calling thread and allocate nothing; the {@code Parallel} ones split rows over
 * {@link WorkerPool#shared()}.
 */
public final class Q8_0Matmul {
    private static final int BB = Q8_0.BLOCK_BYTES;
    /** Tokens whose Q8 activations stay cache-resident while 4-row groups sweep over them. */
    private static final int TOKEN_BLOCK = 64;
    /** F32 tile: rows of an L2 panel and blocks of {@code in} per panel pass. */
    private static final int PANEL_ROWS = 128;
    private static final int PANEL_BLOCKS = 16;
    /** From this many tokens the F32 path uses the 2×4 tile. */
    static final int TILE_MIN_TOKENS = 4;

    private Q8_0Matmul() {
    }

    /** Implementation the non-reference entry points run on this machine. */
    public static String path() {
        return QuantVectors.PATH;
    }

    // ------------------------------------------------------------------ Q8 activations

    /** Scalar reference: {@code Y[t][r] = Σ_b (d_w·d_x)·Σ_j w_q·x_q}, blocks summed in order in F32. */
    public static void reference(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y,
            long yOff) {
        check(w, wOff, rows, in, x, y, yOff);
        int nb = in / QK;
        long rb = Q8_0.rowBytes(in);
        MemorySegment a = x.segment();
        for (int t = 0; t < x.tokens(); t++) {
            for (int r = 0; r < rows; r++) {
                float sum = 0;
                for (int b = 0; b < nb; b++) {
                    long o = wOff + r * rb + (long) b * BB;
                    int isum = 0;
                    for (int j = 0; j < QK; j++) {
                        isum += w.get(ValueLayout.JAVA_BYTE, o + 2 + j) * a.get(ValueLayout.JAVA_BYTE,
                                x.qOffset(t) + (long) b * QK + j);
                    }
                    sum += (f16(w, o) * x.scale(t, b)) * isum;
                }
                y.set(F32, yOff + 4L * ((long) t * rows + r), sum);
            }
        }
    }

    /** All rows, split over the shared worker pool in groups of 4. */
    public static void matmulParallel(MemorySegment w, long wOff, int rows, int in, Q8Activations x,
            MemorySegment y, long yOff) {
        check(w, wOff, rows, in, x, y, yOff);
        int groups = (rows + 3) / 4;
        WorkerPool.shared().parallelFor(groups, grain(in, x.tokens()),
                (s, e) -> rowsQ8(w, wOff, rows, in, x, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread; allocates nothing. */
    public static void matmul(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y,
            long yOff, int rowStart, int rowEnd) {
        check(w, wOff, rows, in, x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        rowsQ8(w, wOff, rows, in, x, y, yOff, rowStart, rowEnd);
    }

    private static void rowsQ8(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y,
            long yOff, int rowStart, int rowEnd) {
        if (!QuantVectors.VECTOR_OK) {
            referenceRowsQ8(w, wOff, rows, in, x, y, yOff, rowStart, rowEnd);
            return;
        }
        long rb = Q8_0.rowBytes(in);
        int nb = in / QK;
        int tokens = x.tokens();
        MemorySegment a = x.segment();
        for (int t0 = 0; t0 < tokens; t0 += TOKEN_BLOCK) {
            int t1 = Math.min(tokens, t0 + TOKEN_BLOCK);
            int r = rowStart;
            for (; r + 4 <= rowEnd; r += 4) {
                for (int t = t0; t < t1; t++) {
                    dotQ8x4(w, wOff + r * rb, rb, a, x.qOffset(t), x.scaleOffset(t), nb, y,
                            yOff + 4L * ((long) t * rows + r));
                }
            }
            for (; r < rowEnd; r++) {
                for (int t = t0; t < t1; t++) {
                    dotQ8x1(w, wOff + r * rb, a, x.qOffset(t), x.scaleOffset(t), nb, y,
                            yOff + 4L * ((long) t * rows + r));
                }
            }
        }
    }

    private static void referenceRowsQ8(MemorySegment w, long wOff, int rows, int in, Q8Activations x,
            MemorySegment y, long yOff, int rowStart, int rowEnd) {
        long rb = Q8_0.rowBytes(in);
        int nb = in / QK;
        MemorySegment a = x.segment();
        for (int t = 0; t < x.tokens(); t++) {
            for (int r = rowStart; r < rowEnd; r++) {
                float sum = 0;
                for (int b = 0; b < nb; b++) {
                    long o = wOff + r * rb + (long) b * BB;
                    int isum = 0;
                    for (int j = 0; j < QK; j++) {
                        isum += w.get(ValueLayout.JAVA_BYTE, o + 2 + j) * a.get(ValueLayout.JAVA_BYTE,
                                x.qOffset(t) + (long) b * QK + j);
                    }
                    sum += (f16(w, o) * x.scale(t, b)) * isum;
                }
                y.set(F32, yOff + 4L * ((long) t * rows + r), sum);
            }
        }
    }

    /**
     * Four consecutive rows (starting at byte {@code w0}, {@code rb} apart) · one token; 4 outputs at {@code yo}.
     * Weight and activation bytes widen straight to F32 lanes and multiply-add there: every product and partial sum is
     * an integer below 2^24 (32·128·127), so the block's integer dot is exact in F32, in any order. Then one FMA with
     * {@code d_w·d_x} per block. Each activation vector feeds 4 rows. (Widening to 16-bit lanes and multiplying there
     * measured 2–2.5× slower in this kernel under C2, and widening to int lanes slower still.)
     */
    private static void dotQ8x4(MemorySegment w, long w0, long rb, MemorySegment a, long aq, long as, int nb,
            MemorySegment y, long yo) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        long w1 = w0 + rb;
        long w2 = w1 + rb;
        long w3 = w2 + rb;
        for (int b = 0; b < nb; b++) {
            long ob = (long) b * BB + 2;
            float dx = a.get(F32, as + 4L * b);
            float s0 = f16(w, w0 + ob - 2) * dx;
            float s1 = f16(w, w1 + ob - 2) * dx;
            float s2 = f16(w, w2 + ob - 2) * dx;
            float s3 = f16(w, w3 + ob - 2) * dx;
            long ab = aq + (long) b * QK;
            FloatVector av = ((FloatVector) ByteVector.fromMemorySegment(B, a, ab, LE).convertShape(VectorOperators.B2F, F, 0));
            FloatVector p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, av);
            FloatVector p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, av);
            FloatVector p2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w2 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, av);
            FloatVector p3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w3 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, av);
            for (int j = L; j < QK; j += L) {
                av = ((FloatVector) ByteVector.fromMemorySegment(B, a, ab + j, LE).convertShape(VectorOperators.B2F, F, 0));
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, av, p0);
                p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, av, p1);
                p2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w2 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, av, p2);
                p3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w3 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, av, p3);
            }
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s0), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s1), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s2), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s3), acc3);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 4, acc1.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 8, acc2.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 12, acc3.reduceLanes(VectorOperators.ADD));
    }

    private static void dotQ8x1(MemorySegment w, long w0, MemorySegment a, long aq, long as, int nb,
            MemorySegment y, long yo) {
        FloatVector acc0 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long ob = (long) b * BB + 2;
            long ab = aq + (long) b * QK;
            FloatVector p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, ((FloatVector) ByteVector.fromMemorySegment(B, a, ab, LE).convertShape(VectorOperators.B2F, F, 0)));
            for (int j = L; j < QK; j += L) {
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, ((FloatVector) ByteVector.fromMemorySegment(B, a, ab + j, LE).convertShape(VectorOperators.B2F, F, 0)), p0);
            }
            acc0 = p0.lanewise(VectorOperators.FMA,
                    FloatVector.broadcast(F, f16(w, w0 + ob - 2) * a.get(F32, as + 4L * b)), acc0);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
    }

    // ------------------------------------------------------------------ F32 activations

    /** Scalar reference: {@code Y[t][r] = Σ_b d_w·Σ_j w_q·x_j}, in order, in F32. */
    public static void referenceF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff) {
        checkF32(w, wOff, rows, in, x, xOff, tokens, y, yOff);
        referenceRowsF32(w, wOff, rows, in, x, xOff, tokens, y, yOff, 0, rows);
    }

    private static void referenceRowsF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        long rb = Q8_0.rowBytes(in);
        int nb = in / QK;
        for (int t = 0; t < tokens; t++) {
            for (int r = rowStart; r < rowEnd; r++) {
                float sum = 0;
                for (int b = 0; b < nb; b++) {
                    long o = wOff + r * rb + (long) b * BB;
                    float bs = 0;
                    for (int j = 0; j < QK; j++) {
                        bs += w.get(ValueLayout.JAVA_BYTE, o + 2 + j)
                                * x.get(F32, xOff + 4L * ((long) t * in + (long) b * QK + j));
                    }
                    sum += f16(w, o) * bs;
                }
                y.set(F32, yOff + 4L * ((long) t * rows + r), sum);
            }
        }
    }

    /** All rows, split over the shared worker pool. */
    public static void matmulF32Parallel(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff) {
        checkF32(w, wOff, rows, in, x, xOff, tokens, y, yOff);
        int groups = (rows + 3) / 4;
        WorkerPool.shared().parallelFor(groups, grain(in, tokens),
                (s, e) -> rowsF32(w, wOff, rows, in, x, xOff, tokens, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread; allocates nothing. */
    public static void matmulF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        checkF32(w, wOff, rows, in, x, xOff, tokens, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        rowsF32(w, wOff, rows, in, x, xOff, tokens, y, yOff, rowStart, rowEnd);
    }

    private static void rowsF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        if (!QuantVectors.VECTOR_OK) {
            referenceRowsF32(w, wOff, rows, in, x, xOff, tokens, y, yOff, rowStart, rowEnd);
            return;
        }
        long rb = Q8_0.rowBytes(in);
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
                            tileF32x2x4(w, wOff + r * rb, rb, b0, b1, x, xo, xs, y, yo + 4L * r, 4L * rows, first);
                        }
                        if (r < p1) {
                            tileF32x1x4(w, wOff + r * rb, b0, b1, x, xo, xs, y, yo + 4L * r, 4L * rows, first);
                        }
                    }
                }
            }
        }
        for (int t = tiled; t < tokens; t++) {
            long xo = xOff + t * xs;
            int r = rowStart;
            for (; r + 4 <= rowEnd; r += 4) {
                dotF32x4(w, wOff + r * rb, rb, x, xo, nb, y, yOff + 4L * ((long) t * rows + r), 4);
            }
            for (; r < rowEnd; r++) {
                dotF32x1(w, wOff + r * rb, x, xo, nb, y, yOff + 4L * ((long) t * rows + r));
            }
        }
    }

    /**
     * One token, all rows, over the shared worker pool, each thread's 4-row groups taken from the 4 quarters of its
     * range: rows {@code q·n + i} of a chunk of {@code 4n} rows, {@code q = 0..3}. The four rows then stream from four
     * places in memory, four DRAM page streams instead of one; measured on the AVX-512 Xeon over a Llama-3.2-1B step's
     * Q8_0 GEMVs, 1.16–1.17× the same kernel on 4 adjacent rows (two runs, 2026-11-28). Same products and order per
     * row as {@link #matmulF32Parallel}.
     */
    static void gemvF32QuarterStreams(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            MemorySegment y, long yOff) {
        checkF32(w, wOff, rows, in, x, xOff, 1, y, yOff);
        if (!QuantVectors.VECTOR_OK) {
            referenceRowsF32(w, wOff, rows, in, x, xOff, 1, y, yOff, 0, rows);
            return;
        }
        long rb = Q8_0.rowBytes(in);
        int nb = in / QK;
        int quads = rows / 4;
        WorkerPool.shared().parallelForBalanced(quads, grain(in, 1), (s, e) -> {
            int n = e - s;
            for (int i = 0; i < n; i++) {
                long r = 4L * s + i;
                dotF32x4(w, wOff + r * rb, n * rb, x, xOff, nb, y, yOff + 4 * r, 4L * n);
            }
        });
        for (int r = 4 * quads; r < rows; r++) {
            dotF32x1(w, wOff + r * rb, x, xOff, nb, y, yOff + 4L * r);
        }
    }

    /** Rows at {@code w0 + k·rb} into {@code yo + k·ys}, k = 0..3 (adjacent rows: {@code rb} the row bytes, ys 4). */
    private static void dotF32x4(MemorySegment w, long w0, long rb, MemorySegment x, long xo, int nb,
            MemorySegment y, long yo, long ys) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        long w1 = w0 + rb;
        long w2 = w1 + rb;
        long w3 = w2 + rb;
        for (int b = 0; b < nb; b++) {
            long ob = (long) b * BB + 2;
            long xb = xo + 4L * b * QK;
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xb, LE);
            FloatVector p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xv);
            FloatVector p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xv);
            FloatVector p2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w2 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xv);
            FloatVector p3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w3 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xv);
            for (int j = L; j < QK; j += L) {
                xv = FloatVector.fromMemorySegment(F, x, xb + 4L * j, LE);
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xv, p0);
                p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xv, p1);
                p2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w2 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xv, p2);
                p3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w3 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xv, p3);
            }
            acc0 = p0.fma(FloatVector.broadcast(F, f16(w, w0 + ob - 2)), acc0);
            acc1 = p1.fma(FloatVector.broadcast(F, f16(w, w1 + ob - 2)), acc1);
            acc2 = p2.fma(FloatVector.broadcast(F, f16(w, w2 + ob - 2)), acc2);
            acc3 = p3.fma(FloatVector.broadcast(F, f16(w, w3 + ob - 2)), acc3);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + ys, acc1.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 2 * ys, acc2.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 3 * ys, acc3.reduceLanes(VectorOperators.ADD));
    }

    private static void dotF32x1(MemorySegment w, long w0, MemorySegment x, long xo, int nb, MemorySegment y,
            long yo) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long ob = w0 + (long) b * BB + 2;
            long xb = xo + 4L * b * QK;
            FloatVector p = ((FloatVector) ByteVector.fromMemorySegment(B, w, ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(FloatVector.fromMemorySegment(F, x, xb, LE));
            for (int j = L; j < QK; j += L) {
                p = ((FloatVector) ByteVector.fromMemorySegment(B, w, ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromMemorySegment(F, x, xb + 4L * j, LE), p);
            }
            acc = p.fma(FloatVector.broadcast(F, f16(w, ob - 2)), acc);
        }
        y.set(F32, yo, acc.reduceLanes(VectorOperators.ADD));
    }

    /**
     * Rows {@code w0}, {@code w0 + rb} × tokens at {@code xo + k·xs} (k < 4) over blocks {@code [b0, b1)}: each weight
     * vector is decoded and scaled once and used by 4 tokens. Adds into Y unless {@code first}.
     */
    private static void tileF32x2x4(MemorySegment w, long w0, long rb, int b0, int b1, MemorySegment x, long xo,
            long xs, MemorySegment y, long yo, long ys, boolean first) {
        FloatVector c00 = FloatVector.zero(F);
        FloatVector c01 = c00;
        FloatVector c02 = c00;
        FloatVector c03 = c00;
        FloatVector c10 = c00;
        FloatVector c11 = c00;
        FloatVector c12 = c00;
        FloatVector c13 = c00;
        long w1 = w0 + rb;
        for (int b = b0; b < b1; b++) {
            long ob = (long) b * BB;
            FloatVector d0 = FloatVector.broadcast(F, f16(w, w0 + ob));
            FloatVector d1 = FloatVector.broadcast(F, f16(w, w1 + ob));
            long xb = xo + 4L * b * QK;
            for (int j = 0; j < QK; j += L) {
                FloatVector v0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0);
                FloatVector v1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1);
                long xk = xb + 4L * j;
                FloatVector xv = FloatVector.fromMemorySegment(F, x, xk, LE);
                c00 = v0.fma(xv, c00);
                c10 = v1.fma(xv, c10);
                xv = FloatVector.fromMemorySegment(F, x, xk + xs, LE);
                c01 = v0.fma(xv, c01);
                c11 = v1.fma(xv, c11);
                xv = FloatVector.fromMemorySegment(F, x, xk + 2 * xs, LE);
                c02 = v0.fma(xv, c02);
                c12 = v1.fma(xv, c12);
                xv = FloatVector.fromMemorySegment(F, x, xk + 3 * xs, LE);
                c03 = v0.fma(xv, c03);
                c13 = v1.fma(xv, c13);
            }
        }
        store(y, yo, first, c00.reduceLanes(VectorOperators.ADD));
        store(y, yo + 4, first, c10.reduceLanes(VectorOperators.ADD));
        store(y, yo + ys, first, c01.reduceLanes(VectorOperators.ADD));
        store(y, yo + ys + 4, first, c11.reduceLanes(VectorOperators.ADD));
        store(y, yo + 2 * ys, first, c02.reduceLanes(VectorOperators.ADD));
        store(y, yo + 2 * ys + 4, first, c12.reduceLanes(VectorOperators.ADD));
        store(y, yo + 3 * ys, first, c03.reduceLanes(VectorOperators.ADD));
        store(y, yo + 3 * ys + 4, first, c13.reduceLanes(VectorOperators.ADD));
    }

    private static void tileF32x1x4(MemorySegment w, long w0, int b0, int b1, MemorySegment x, long xo, long xs,
            MemorySegment y, long yo, long ys, boolean first) {
        FloatVector c0 = FloatVector.zero(F);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        for (int b = b0; b < b1; b++) {
            long ob = w0 + (long) b * BB;
            FloatVector d = FloatVector.broadcast(F, f16(w, ob));
            long xb = xo + 4L * b * QK;
            for (int j = 0; j < QK; j += L) {
                FloatVector v = ((FloatVector) ByteVector.fromMemorySegment(B, w, ob + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d);
                long xk = xb + 4L * j;
                c0 = v.fma(FloatVector.fromMemorySegment(F, x, xk, LE), c0);
                c1 = v.fma(FloatVector.fromMemorySegment(F, x, xk + xs, LE), c1);
                c2 = v.fma(FloatVector.fromMemorySegment(F, x, xk + 2 * xs, LE), c2);
                c3 = v.fma(FloatVector.fromMemorySegment(F, x, xk + 3 * xs, LE), c3);
            }
        }
        store(y, yo, first, c0.reduceLanes(VectorOperators.ADD));
        store(y, yo + ys, first, c1.reduceLanes(VectorOperators.ADD));
        store(y, yo + 2 * ys, first, c2.reduceLanes(VectorOperators.ADD));
        store(y, yo + 3 * ys, first, c3.reduceLanes(VectorOperators.ADD));
    }

    /** Takes the reduced float, not the vector: a vector argument would be boxed if this were not inlined. */
    private static void store(MemorySegment y, long off, boolean first, float v) {
        y.set(F32, off, first ? v : y.get(F32, off) + v);
    }

    // ------------------------------------------------------------------ checks

    /** Parallel grain in 4-row groups: about 64 KiB of weights per chunk at least, so tiny ops stay on one thread. */
    static int grain(int in, int tokens) {
        long work = (long) in * Math.max(1, tokens) * 4;
        return (int) Math.max(1, Math.min(1 << 20, (1L << 16) / Math.max(1, work)));
    }

    private static void check(MemorySegment w, long wOff, int rows, int in, Q8Activations x, MemorySegment y,
            long yOff) {
        QuantVectors.requireBlocks(in, "Q8_0 matmul");
        QuantVectors.requirePositive(rows, "Q8_0 matmul rows");
        if (x.in() != in) {
            throw new dev.gale.core.ShapeMismatchException("Q8_0 matmul: weights have " + in
                    + " columns but the activations " + x.in());
        }
        QuantVectors.requireBytes(w, wOff, rows * Q8_0.rowBytes(in), "Q8_0 matmul weights");
        QuantVectors.requireBytes(y, yOff, 4L * rows * x.tokens(), "Q8_0 matmul output");
    }

    private static void checkF32(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            int tokens, MemorySegment y, long yOff) {
        QuantVectors.requireBlocks(in, "Q8_0 matmul");
        QuantVectors.requirePositive(rows, "Q8_0 matmul rows");
        QuantVectors.requirePositive(tokens, "Q8_0 matmul tokens");
        QuantVectors.requireBytes(w, wOff, rows * Q8_0.rowBytes(in), "Q8_0 matmul weights");
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "Q8_0 matmul activations");
        QuantVectors.requireBytes(y, yOff, 4L * rows * tokens, "Q8_0 matmul output");
    }
}
