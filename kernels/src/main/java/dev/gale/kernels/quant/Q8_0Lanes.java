package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q8_0 weights repacked once at load into <b>row lanes</b>, for decode on Q8 activations (llama.cpp's Q8_0 × Q8_0
 * dot product, in Gale's layout). The GEMV's schedule and operand are {@link RowLaneGemv}'s, as for
 * {@link Q4_0Lanes}.
 *
 * <p><b>Layout.</b> Rows go in groups of {@link #R} (32 at 512 bits, 16 at 256); the last group is padded with rows
 * of scale 0 and quants 0. Group {@code g}, block {@code b} is one contiguous group-block of {@code 36·R} bytes:
 * <pre>
 *   +0      R F32: d of rows gR .. gR+R−1 (the fp16 scale widened once, exactly)
 *   +4R     32 chunks of R bytes: chunk j holds quant j of every row's block, row r at byte r (signed)
 * </pre>
 *
 * <p><b>Kernel</b> ({@link RowLaneKernel#group4Bytes}). Chunk j sign-extends to R 16-bit lanes and multiplies the
 * broadcast code of element j; two such products (at most 2·127·127 = 32258) share a 16-bit accumulator, which then
 * widens into two 32-bit halves. So 64 weights of a row cost a widening load, a multiply and half of an add and of a
 * widening, with no lane crossing besides the widenings, against the 4-row layouts' shifts, a conversion to F32 and an
 * FMA per weight vector (their F32 units bound them: about 0.19 cycles per byte on port 0 at 512 bits). The block sum
 * is an exact integer; the rows' F32 sums take {@code fma(Σw_q·x_q, d_w·d_x, sum)}, as the scalar path computes it.
 */
public final class Q8_0Lanes extends RowLaneGemv {
    /** Bytes of one group-block. */
    static final int GB = (int) RowLaneKernel.groupBlockBytes(QK);

    private Q8_0Lanes(int rows, int in, MemorySegment blocks) {
        super("Q8_0 lanes", rows, in, GB, blocks);
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
        MemorySegment p = RowLaneKernel.pack(rows, in / QK, QK, (byte) 0, (row, b, dst) -> {
            long o = wOff + row * rb + (long) b * Q8_0.BLOCK_BYTES;
            MemorySegment.copy(w, ValueLayout.JAVA_BYTE, o + 2, dst, 0, QK);
            return QuantVectors.f16(w, o);
        }, allocator);
        return new Q8_0Lanes(rows, in, p);
    }

    /** Block {@code b}'s scale of row {@code r}, widened exactly from the fp16 original. */
    float scale(int r, int b) {
        return blocks.get(F32, RowLaneKernel.scaleAt(r, b, nb, GB));
    }

    /** Quant {@code j} (0..31) of row {@code r}'s block {@code b}. */
    byte quant(int r, int b, int j) {
        return blocks.get(ValueLayout.JAVA_BYTE, RowLaneKernel.byteAt(r, b, j, nb, GB));
    }

    /** Row {@code r} dequantized to F32 {@code d·q} at {@code dst + dstOff}: as {@link Q8_0#dequantize}. */
    @Override
    public void dequantizeRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, 4L * in, "Q8_0 lanes dequantize destination");
        for (int b = 0; b < nb; b++) {
            float d = scale(r, b);
            for (int j = 0; j < QK; j++) {
                dst.set(F32, dstOff + 4L * (b * QK + j), d * quant(r, b, j));
            }
        }
    }

    /** Writes row {@code r} back in llama.cpp's Q8_0 block format (the fp16 scale is the original, exactly). */
    @Override
    public void exportRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, Q8_0.rowBytes(in), "Q8_0 lanes export destination");
        for (int b = 0; b < nb; b++) {
            long o = dstOff + (long) b * Q8_0.BLOCK_BYTES;
            dst.set(QuantVectors.I16, o, Float.floatToFloat16(scale(r, b)));
            for (int j = 0; j < QK; j++) {
                dst.set(ValueLayout.JAVA_BYTE, o + 2 + j, quant(r, b, j));
            }
        }
    }

    /**
     * The prefill panels' column decode ({@link PackedPanels#Q8_0_LANES}): rows {@code [row0, row0 + L)}, inputs
     * {@code [k0, k0 + kc)} into {@code dst[off + k·stride + j]}, one load and conversion per input, times the rows'
     * scales where {@code scaled}; false (nothing written) unless the rows are one vector inside a group.
     */
    boolean decodeColumns(int row0, int n, int k0, int kc, boolean scaled, float[] dst, int off, int stride) {
        if (!columnsInOneLoad(row0, n)) {
            return false;
        }
        long g = (long) (row0 / R) * nb;
        int lane = row0 % R;
        for (int k = 0; k < kc; k += QK) {
            long base = (g + (k0 + k) / QK) * GB;
            FloatVector s = FloatVector.fromMemorySegment(F, blocks, base + 4L * lane, LE);
            int m = Math.min(QK, kc - k);
            for (int j = 0; j < m; j++) {
                FloatVector v = (FloatVector) ByteVector.fromMemorySegment(BQ, blocks,
                        base + RowLaneKernel.QOFF + (long) j * R + lane, LE).convertShape(VectorOperators.B2F, F, 0);
                if (scaled) {
                    v = v.mul(s);
                }
                v.intoArray(dst, off + (k + j) * stride);
            }
        }
        return true;
    }

    @Override
    void kernel4(Operand op, int t, long oa, long ob, long oc, long od, MemorySegment y, long ya, long yb, long yc,
            long yd) {
        RowLaneKernel.group4Bytes(blocks, oa, ob, oc, od, nb, GB, op.codes, t * in, op.scales, t * nb, y, ya, yb, yc,
                yd);
    }

    @Override
    float rowScalar(Operand op, int t, int row) {
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            int isum = 0;
            for (int j = 0; j < QK; j++) {
                isum += quant(row, b, j) * op.codes[t * in + b * QK + j];
            }
            sum = Math.fma((float) isum, scale(row, b) * op.scales[t * nb + b], sum);
        }
        return sum;
    }
}
