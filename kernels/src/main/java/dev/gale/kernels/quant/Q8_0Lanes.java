package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.B;
import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q8_0 weights repacked once at load into <b>row lanes</b>, for decode on F32 activations: the layout the decoder's
 * Q8_0 GEMV reads ({@link QuantMatMulOp#q8_0(Q8_0Lanes)}). {@link Q8_0Packed} keeps the 4-row layout and its
 * Q8-activation kernel.
 *
 * <p><b>Layout.</b> Rows go in groups of {@link #R}, the F32 lanes of one vector (16 at 512 bits, 8 at 256); the
 * last group is padded with rows of scale 0 and quants 0. Group {@code g}, block {@code b} ({@code nb = in/32}) is one
 * contiguous group-block of {@code 36·R} bytes at {@code 36·R·(g·nb + b)}:
 * <pre>
 *   +0      R F32: d of rows gR .. gR+R−1 (the fp16 scale widened once, exactly)
 *   +4R     32 chunks of R bytes: chunk e holds quant e of every row's block, row r at byte r
 * </pre>
 *
 * <p><b>Kernel.</b> The lanes are rows: chunk e sign-extends to R int lanes in one conversion, converts to F32 and
 * meets the broadcast activation {@code x_e} in one FMA, so nothing is reduced across lanes. Elements e mod 4 go to
 * four partial block sums (an FMA chain of 32 would wait on its own latency), added as {@code (p0 + p1) + (p2 + p3)};
 * then one FMA with the rows' scales per block. Per 16 weights that is one widening, one conversion and one FMA, where
 * {@link Q8_0Packed}'s kernel pays two shifts more per vector to pick bytes out of its int lanes. Measured on the
 * AVX-512 Xeon over a Llama-3.2-1B step's Q8_0 GEMVs (113 matrices, two threads, alternating step by step in one JVM):
 * 1.41× that kernel. The sums are F32, within {@link dev.gale.kernels.Numerics#dotBound} of the exact product of the
 * terms {@code |q·x|} (a different association from {@link Q8_0Packed}'s, so the two differ in the last bits).
 *
 * <p>Row-range entry points run on the calling thread and allocate nothing; the {@code Parallel} one splits groups
 * over {@link WorkerPool#shared()} (up to four ranges per thread claimed in order, each one sequential stream).
 * Immutable after {@link #pack}; safe to share between threads.
 */
public final class Q8_0Lanes {
    /** Rows per group: the F32 lanes of a vector, or 8 where the vector kernel does not run. */
    static final int R = QuantVectors.VECTOR_OK ? L : 8;
    /** Bytes of a group-block's scales, where its quants start. */
    private static final int QOFF = 4 * R;
    /** Bytes of one group-block. */
    static final int GB = QOFF + QK * R;
    /** Per thread running the kernel: a group's outputs when only some of its rows are wanted. */
    private static final ThreadLocal<MemorySegment> PARTIAL = ThreadLocal.withInitial(
            () -> Arena.global().allocate(4L * R, 64));

    private final int rows;
    private final int in;
    private final int nb;
    private final int groups;
    private final MemorySegment blocks;

    private Q8_0Lanes(int rows, int in, MemorySegment blocks) {
        this.rows = rows;
        this.in = in;
        this.nb = in / QK;
        this.groups = (rows + R - 1) / R;
        this.blocks = blocks;
    }

    /**
     * Repacks {@code rows} llama.cpp Q8_0 rows of {@code in} elements at {@code wOff} into a segment from
     * {@code allocator} (its lifetime is the allocator's).
     */
    public static Q8_0Lanes pack(MemorySegment w, long wOff, int rows, int in, SegmentAllocator allocator) {
        QuantVectors.requireBlocks(in, "Q8_0 lanes pack");
        QuantVectors.requirePositive(rows, "Q8_0 lanes pack rows");
        long rb = Q8_0.rowBytes(in);
        QuantVectors.requireBytes(w, wOff, rows * rb, "Q8_0 lanes pack source");
        int nb = in / QK;
        int groups = (rows + R - 1) / R;
        MemorySegment p = allocator.allocate((long) groups * nb * GB, 64);
        // A group-block is transposed in a heap array and copied in one bulk copy, not by 32·R checked byte writes.
        byte[] blk = new byte[GB - QOFF];
        byte[] src = new byte[QK];
        MemorySegment heap = MemorySegment.ofArray(blk);
        MemorySegment srcHeap = MemorySegment.ofArray(src);
        for (int g = 0; g < groups; g++) {
            for (int b = 0; b < nb; b++) {
                long gb = ((long) g * nb + b) * GB;
                for (int r = 0; r < R; r++) {
                    int row = g * R + r;
                    if (row < rows) {
                        long o = wOff + row * rb + (long) b * Q8_0.BLOCK_BYTES;
                        p.set(F32, gb + 4L * r, QuantVectors.f16(w, o));
                        MemorySegment.copy(w, o + 2, srcHeap, 0, QK);
                    } else {
                        p.set(F32, gb + 4L * r, 0f);
                        java.util.Arrays.fill(src, (byte) 0);
                    }
                    for (int e = 0; e < QK; e++) {
                        blk[e * R + r] = src[e];
                    }
                }
                MemorySegment.copy(heap, 0, p, gb + QOFF, GB - QOFF);
            }
        }
        return new Q8_0Lanes(rows, in, p);
    }

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    /** Bytes the kernel streams per GEMV (quants and scales, padding included). */
    public long byteSize() {
        return blocks.byteSize();
    }

    /** Block {@code b}'s scale of row {@code r}, widened exactly from the fp16 original. */
    float scale(int r, int b) {
        return blocks.get(F32, ((long) (r / R) * nb + b) * GB + 4L * (r % R));
    }

    /** Quant {@code e} (0..31) of row {@code r}'s block {@code b}. */
    byte quant(int r, int b, int e) {
        return blocks.get(ValueLayout.JAVA_BYTE, ((long) (r / R) * nb + b) * GB + QOFF + (long) e * R + r % R);
    }

    /** Row {@code r} dequantized to F32 {@code d·q} at {@code dst + dstOff}: equal to {@link Q8_0#dequantize}. */
    public void dequantizeRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, 4L * in, "Q8_0 lanes dequantize destination");
        for (int b = 0; b < nb; b++) {
            float d = scale(r, b);
            for (int e = 0; e < QK; e++) {
                dst.set(F32, dstOff + 4L * (b * QK + e), d * quant(r, b, e));
            }
        }
    }

    /** Writes row {@code r} back in llama.cpp's Q8_0 block format (the fp16 scale is the original, exactly). */
    public void exportRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, Q8_0.rowBytes(in), "Q8_0 lanes export destination");
        for (int b = 0; b < nb; b++) {
            long o = dstOff + (long) b * Q8_0.BLOCK_BYTES;
            dst.set(QuantVectors.I16, o, Float.floatToFloat16(scale(r, b)));
            for (int e = 0; e < QK; e++) {
                dst.set(ValueLayout.JAVA_BYTE, o + 2 + e, quant(r, b, e));
            }
        }
    }

    /** {@code Y[t][r] = X[t]·W[r]} for all rows and {@code tokens} tokens, groups over the shared worker pool. */
    public void matmulF32Parallel(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        check(x, xOff, tokens, y, yOff);
        int grain = Math.max(1, Q4_0Matmul.grain(in, tokens) * 4 / R);
        WorkerPool.shared().parallelForBalanced(groups, grain,
                (s, e) -> groups(x, xOff, tokens, y, yOff, R * s, Math.min(rows, R * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread; allocates nothing. */
    public void matmulF32(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff, int rowStart,
            int rowEnd) {
        check(x, xOff, tokens, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        groups(x, xOff, tokens, y, yOff, rowStart, rowEnd);
    }

    private void groups(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff, int rowStart,
            int rowEnd) {
        MemorySegment partial = PARTIAL.get();
        for (int g = rowStart / R; R * g < rowEnd; g++) {
            int k0 = Math.max(rowStart, R * g) - R * g;
            int k1 = Math.min(rowEnd, R * g + R) - R * g;
            for (int t = 0; t < tokens; t++) {
                long xo = xOff + 4L * t * in;
                long yo = yOff + 4L * ((long) t * rows + (long) R * g);
                boolean whole = k0 == 0 && k1 == R;
                if (QuantVectors.VECTOR_OK) {
                    group(blocks, (long) g * nb * GB, nb, x, xo, whole ? y : partial, whole ? yo : 0);
                } else {
                    groupScalar(g, x, xo, partial);
                }
                if (!QuantVectors.VECTOR_OK || !whole) {
                    MemorySegment.copy(partial, 4L * k0, y, yo + 4L * k0, 4L * (k1 - k0));
                }
            }
        }
    }

    /** One group of {@link #R} rows · one token; writes the R outputs at {@code yo} (see the class comment). */
    private static void group(MemorySegment w, long o, int nb, MemorySegment x, long xo, MemorySegment y, long yo) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++, o += GB) {
            long q = o + QOFF;
            long xb = xo + 4L * QK * b;
            FloatVector p0 = FloatVector.zero(F);
            FloatVector p1 = p0;
            FloatVector p2 = p0;
            FloatVector p3 = p0;
            for (int e = 0; e < QK; e += 4) {
                p0 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, q + (long) e * R, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.broadcast(F, x.get(F32, xb + 4L * e)), p0);
                p1 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, q + (long) (e + 1) * R, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.broadcast(F, x.get(F32, xb + 4L * e + 4)), p1);
                p2 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, q + (long) (e + 2) * R, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.broadcast(F, x.get(F32, xb + 4L * e + 8)), p2);
                p3 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, q + (long) (e + 3) * R, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.broadcast(F, x.get(F32, xb + 4L * e + 12)), p3);
            }
            acc = p0.add(p1).add(p2.add(p3)).fma(FloatVector.fromMemorySegment(F, w, o, LE), acc);
        }
        acc.intoMemorySegment(y, yo, LE);
    }

    /** The same sums in plain Java, in the same order, into {@code out[0, R)}: where the vector kernel does not run. */
    private void groupScalar(int g, MemorySegment x, long xo, MemorySegment out) {
        for (int r = 0; r < R; r++) {
            int row = R * g + r;
            float acc = 0;
            for (int b = 0; row < rows && b < nb; b++) {
                float p0 = 0;
                float p1 = 0;
                float p2 = 0;
                float p3 = 0;
                for (int e = 0; e < QK; e += 4) {
                    long xe = xo + 4L * (b * QK + e);
                    p0 = Math.fma(quant(row, b, e), x.get(F32, xe), p0);
                    p1 = Math.fma(quant(row, b, e + 1), x.get(F32, xe + 4), p1);
                    p2 = Math.fma(quant(row, b, e + 2), x.get(F32, xe + 8), p2);
                    p3 = Math.fma(quant(row, b, e + 3), x.get(F32, xe + 12), p3);
                }
                acc = Math.fma((p0 + p1) + (p2 + p3), scale(row, b), acc);
            }
            out.set(F32, 4L * r, acc);
        }
    }

    private void check(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        QuantVectors.requirePositive(tokens, "Q8_0 lanes matmul tokens");
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "Q8_0 lanes matmul activations");
        QuantVectors.requireBytes(y, yOff, 4L * rows * tokens, "Q8_0 lanes matmul output");
    }
}
