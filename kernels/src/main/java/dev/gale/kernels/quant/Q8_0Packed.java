package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.B;
import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q8_0 weights repacked once at load into Gale's decode layout; <b>the class to use for Q8_0 decode</b> (GEMV, and
 * small token counts by looping tokens over each cache-resident 4-row group). {@link Q8_0} stays the import/export
 * format and the input of the scalar references; {@link Q8_0Matmul} reads that format directly and remains as the
 * baseline and for prefill tiles.
 *
 * <p><b>Layout.</b> Rows are padded to a multiple of 4 ({@code groups = ⌈rows/4⌉}); padding rows have scale 0 and
 * quants 0. For group {@code g}, block {@code b} ({@code nb = in/32}):
 * <pre>
 *   quants: 128 bytes at 128·(g·nb + b): the 32 int8 of row r = 0..3 at +32·r, in element order
 *   scales:   4 F32   at  16·(g·nb + b): d of rows 4g .. 4g+3 (the fp16 scale widened once, exactly)
 * </pre>
 *
 * <p><b>Kernels.</b> Weight bytes sign-extend to F32 from a quarter-width byte load (part 0, no shuffle), one FMA per
 * vector and row into a per-block sum (the first vector multiplies instead: starting the sum from a zero vector
 * measured 2× slower on C2/AVX2), then one scale FMA per row and block; each activation vector feeds 4 rows.
 * With {@link Q8Activations} the block sum {@code Σ w_q·x_q} is an exact integer in F32 lanes (|partial| ≤ 32·128·127
 * < 2^24) and the scale is {@code d_w·d_x}. Row-range entry points run on the calling thread and allocate nothing;
 * the {@code Parallel} ones split 4-row groups over {@link WorkerPool#shared()}. Immutable after {@link #pack}.
 */
public final class Q8_0Packed {
    /** Bytes of one group-block of quants (4 rows × 32). */
    static final int GQ = 128;
    /** Bytes of one group-block of scales (4 rows × F32). */
    static final int GS = 16;

    private final int rows;
    private final int in;
    private final int nb;
    private final int groups;
    private final MemorySegment quants;
    private final MemorySegment scales;

    private Q8_0Packed(int rows, int in, MemorySegment quants, MemorySegment scales) {
        this.rows = rows;
        this.in = in;
        this.nb = in / QK;
        this.groups = (rows + 3) / 4;
        this.quants = quants;
        this.scales = scales;
    }

    /**
     * Repacks {@code rows} llama.cpp Q8_0 rows of {@code in} elements at {@code wOff} into segments from
     * {@code allocator} (their lifetime is the allocator's).
     */
    public static Q8_0Packed pack(MemorySegment w, long wOff, int rows, int in, SegmentAllocator allocator) {
        QuantVectors.requireBlocks(in, "Q8_0 pack");
        QuantVectors.requirePositive(rows, "Q8_0 pack rows");
        long rb = Q8_0.rowBytes(in);
        QuantVectors.requireBytes(w, wOff, rows * rb, "Q8_0 pack source");
        int nb = in / QK;
        int groups = (rows + 3) / 4;
        MemorySegment q = allocator.allocate(Math.max(1L, (long) groups * nb * GQ), 64);
        MemorySegment s = allocator.allocate(Math.max(1L, (long) groups * nb * GS), 64);
        for (int g = 0; g < groups; g++) {
            for (int b = 0; b < nb; b++) {
                long gb = (long) g * nb + b;
                for (int rr = 0; rr < 4; rr++) {
                    int r = 4 * g + rr;
                    long qo = gb * GQ + 32L * rr;
                    if (r < rows) {
                        long o = wOff + r * rb + (long) b * Q8_0.BLOCK_BYTES;
                        s.set(F32, gb * GS + 4L * rr, QuantVectors.f16(w, o));
                        MemorySegment.copy(w, o + 2, q, qo, QK);
                    } else {
                        s.set(F32, gb * GS + 4L * rr, 0f);
                        q.asSlice(qo, QK).fill((byte) 0);
                    }
                }
            }
        }
        return new Q8_0Packed(rows, in, q, s);
    }

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    /** Bytes the kernels stream per GEMV (quants and scales, padding included). */
    public long byteSize() {
        return quants.byteSize() + scales.byteSize();
    }

    /** Row {@code r} dequantized to F32 {@code d·q} at {@code dst + dstOff}: equal to {@link Q8_0#dequantize}. */
    public void dequantizeRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, 4L * in, "Q8_0 packed dequantize destination");
        int g = r / 4;
        int rr = r % 4;
        for (int b = 0; b < nb; b++) {
            long gb = (long) g * nb + b;
            float d = scales.get(F32, gb * GS + 4L * rr);
            for (int j = 0; j < QK; j++) {
                dst.set(F32, dstOff + 4L * (b * QK + j), d * quants.get(ValueLayout.JAVA_BYTE, gb * GQ + 32L * rr + j));
            }
        }
    }

    /** Writes row {@code r} back in llama.cpp's Q8_0 block format (the fp16 scale is the original, exactly). */
    public void exportRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, Q8_0.rowBytes(in), "Q8_0 packed export destination");
        int g = r / 4;
        int rr = r % 4;
        for (int b = 0; b < nb; b++) {
            long gb = (long) g * nb + b;
            long o = dstOff + (long) b * Q8_0.BLOCK_BYTES;
            dst.set(QuantVectors.I16, o, Float.floatToFloat16(scales.get(F32, gb * GS + 4L * rr)));
            MemorySegment.copy(quants, gb * GQ + 32L * rr, dst, o + 2, QK);
        }
    }

    // ------------------------------------------------------------------ F32 activations

    /** {@code Y[t][r] = X[t]·W[r]} for all rows, 4-row groups split over the shared worker pool. */
    public void matmulF32Parallel(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        checkF32(x, xOff, tokens, y, yOff);
        WorkerPool.shared().parallelFor(groups, grain(tokens),
                (s, e) -> groupsF32(x, xOff, tokens, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread; allocates nothing. */
    public void matmulF32(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff, int rowStart,
            int rowEnd) {
        checkF32(x, xOff, tokens, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        groupsF32(x, xOff, tokens, y, yOff, rowStart, rowEnd);
    }

    private void groupsF32(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff, int rowStart,
            int rowEnd) {
        for (int g = rowStart / 4; 4 * g < rowEnd; g++) {
            int lo = Math.max(rowStart, 4 * g) - 4 * g;
            int hi = Math.min(rowEnd, 4 * g + 4) - 4 * g;
            for (int t = 0; t < tokens; t++) {
                long xo = xOff + 4L * t * in;
                long yo = yOff + 4L * ((long) t * rows + 4 * g);
                if (QuantVectors.VECTOR_OK) {
                    groupF32(quants, (long) g * nb * GQ, scales, (long) g * nb * GS, nb, x, xo, y, yo, lo, hi);
                } else {
                    groupF32Scalar(g, x, xo, y, yo, lo, hi);
                }
            }
        }
    }

    private static void groupF32(MemorySegment q, long q0, MemorySegment s, long s0, int nb, MemorySegment x,
            long xo, MemorySegment y, long yo, int k0, int k1) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        for (int b = 0; b < nb; b++) {
            long qb = q0 + (long) b * GQ;
            long xb = xo + 4L * b * QK;
            FloatVector xv0 = FloatVector.fromMemorySegment(F, x, xb, LE);
            FloatVector p0 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, xv0);
            FloatVector p1 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 32, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, xv0);
            FloatVector p2 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 64, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, xv0);
            FloatVector p3 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 96, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, xv0);
            for (int j = L; j < QK; j += L) {
                FloatVector xv = FloatVector.fromMemorySegment(F, x, xb + 4L * j, LE);
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, xv, p0);
                p1 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 32 + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, xv, p1);
                p2 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 64 + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, xv, p2);
                p3 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 96 + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, xv, p3);
            }
            long sb = s0 + (long) b * GS;
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb)), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 4)), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 8)), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 12)), acc3);
        }
        Q4_0Packed.store4(y, yo, k0, k1, acc0.reduceLanes(VectorOperators.ADD), acc1.reduceLanes(VectorOperators.ADD),
                acc2.reduceLanes(VectorOperators.ADD), acc3.reduceLanes(VectorOperators.ADD));
    }

    private void groupF32Scalar(int g, MemorySegment x, long xo, MemorySegment y, long yo, int k0, int k1) {
        for (int k = k0; k < k1; k++) {
            float sum = 0;
            for (int b = 0; b < nb; b++) {
                long gb = (long) g * nb + b;
                float bs = 0;
                for (int j = 0; j < QK; j++) {
                    bs += quants.get(ValueLayout.JAVA_BYTE, gb * GQ + 32L * k + j) * x.get(F32, xo + 4L * (b * QK + j));
                }
                sum += scales.get(F32, gb * GS + 4L * k) * bs;
            }
            y.set(F32, yo + 4L * k, sum);
        }
    }

    // ------------------------------------------------------------------ Q8 activations

    /** {@code Y[t][r]} for all rows and {@code x.tokens()} tokens, 4-row groups over the shared worker pool. */
    public void matmulParallel(Q8Activations x, MemorySegment y, long yOff) {
        check(x, y, yOff);
        WorkerPool.shared().parallelFor(groups, grain(x.tokens()),
                (s, e) -> groupsQ8(x, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread; allocates nothing. */
    public void matmul(Q8Activations x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        check(x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        groupsQ8(x, y, yOff, rowStart, rowEnd);
    }

    private void groupsQ8(Q8Activations x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        MemorySegment a = x.segment();
        for (int g = rowStart / 4; 4 * g < rowEnd; g++) {
            int lo = Math.max(rowStart, 4 * g) - 4 * g;
            int hi = Math.min(rowEnd, 4 * g + 4) - 4 * g;
            for (int t = 0; t < x.tokens(); t++) {
                long yo = yOff + 4L * ((long) t * rows + 4 * g);
                if (QuantVectors.VECTOR_OK) {
                    groupQ8(quants, (long) g * nb * GQ, scales, (long) g * nb * GS, nb, a, x.qOffset(t),
                            x.scaleOffset(t), y, yo, lo, hi);
                } else {
                    groupQ8Scalar(g, x, t, y, yo, lo, hi);
                }
            }
        }
    }

    private static void groupQ8(MemorySegment q, long q0, MemorySegment s, long s0, int nb, MemorySegment a,
            long aq, long as, MemorySegment y, long yo, int k0, int k1) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        for (int b = 0; b < nb; b++) {
            long qb = q0 + (long) b * GQ;
            long ab = aq + (long) b * QK;
            FloatVector xv0 = (FloatVector) ByteVector.fromMemorySegment(B, a, ab, LE).convertShape(VectorOperators.B2F, F, 0);
            FloatVector p0 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, xv0);
            FloatVector p1 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 32, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, xv0);
            FloatVector p2 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 64, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, xv0);
            FloatVector p3 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 96, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, xv0);
            for (int j = L; j < QK; j += L) {
                FloatVector xv = (FloatVector) ByteVector.fromMemorySegment(B, a, ab + j, LE).convertShape(VectorOperators.B2F, F, 0);
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, xv, p0);
                p1 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 32 + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, xv, p1);
                p2 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 64 + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, xv, p2);
                p3 = ((FloatVector) ByteVector.fromMemorySegment(B, q, qb + 96 + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, xv, p3);
            }
            float dx = a.get(F32, as + 4L * b);
            long sb = s0 + (long) b * GS;
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb) * dx), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 4) * dx), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 8) * dx), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 12) * dx), acc3);
        }
        Q4_0Packed.store4(y, yo, k0, k1, acc0.reduceLanes(VectorOperators.ADD), acc1.reduceLanes(VectorOperators.ADD),
                acc2.reduceLanes(VectorOperators.ADD), acc3.reduceLanes(VectorOperators.ADD));
    }

    private void groupQ8Scalar(int g, Q8Activations x, int t, MemorySegment y, long yo, int k0, int k1) {
        for (int k = k0; k < k1; k++) {
            float sum = 0;
            for (int b = 0; b < nb; b++) {
                long gb = (long) g * nb + b;
                int isum = 0;
                for (int j = 0; j < QK; j++) {
                    isum += quants.get(ValueLayout.JAVA_BYTE, gb * GQ + 32L * k + j) * x.q(t, b * QK + j);
                }
                sum += (scales.get(F32, gb * GS + 4L * k) * x.scale(t, b)) * isum;
            }
            y.set(F32, yo + 4L * k, sum);
        }
    }

    // ------------------------------------------------------------------ checks

    private int grain(int tokens) {
        return Q4_0Matmul.grain(in, tokens);
    }

    private void check(Q8Activations x, MemorySegment y, long yOff) {
        if (x.in() != in) {
            throw new ShapeMismatchException("Q8_0 packed matmul: weights have " + in + " columns but the activations "
                    + x.in());
        }
        QuantVectors.requireBytes(y, yOff, 4L * rows * x.tokens(), "Q8_0 packed matmul output");
    }

    private void checkF32(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        QuantVectors.requirePositive(tokens, "Q8_0 packed matmul tokens");
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "Q8_0 packed matmul activations");
        QuantVectors.requireBytes(y, yOff, 4L * rows * tokens, "Q8_0 packed matmul output");
    }

    /** The packed quants ({@link PackedPanels} decodes them). */
    MemorySegment quants() {
        return quants;
    }

    /** The widened block scales. */
    MemorySegment scales() {
        return scales;
    }

    /** Byte offset in {@link #quants()} of row {@code r}'s block {@code b}. */
    long quantOffset(int r, int b) {
        return ((long) (r / 4) * nb + b) * GQ + (long) (GQ / 4) * (r % 4);
    }

    /** Byte offset in {@link #scales()} of row {@code r}'s block {@code b} scale. */
    long scaleOffset(int r, int b) {
        return ((long) (r / 4) * nb + b) * GS + 4L * (r % 4);
    }
}
