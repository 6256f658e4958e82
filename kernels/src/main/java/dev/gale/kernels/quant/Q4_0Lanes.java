package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_0 weights repacked once at load into <b>row lanes</b>, for decode on Q8 activations (the Q4_0 decode path
 * wherever the vector kernels run, {@link QuantMatMulOp#q4_0(MemorySegment, long, int, int, SegmentAllocator)});
 * {@link Q4_0Packed} is the layout of the F32-activation kernel. The GEMV's schedule and operand are
 * {@link RowLaneGemv}'s.
 *
 * <p><b>Layout.</b> Rows go in groups of {@link #R}, the 16-bit lanes of one vector (32 at 512 bits, 16 at 256);
 * the last group is padded with rows of scale 0 and nibbles 8, which are exactly zero. Group {@code g}, block
 * {@code b} ({@code nb = in/32}) is one contiguous group-block of {@code 20·R} bytes at {@code 20·R·(g·nb + b)}:
 * <pre>
 *   +0      R F32: d of rows gR .. gR+R−1 (the fp16 scale widened once, exactly)
 *   +4R     16 chunks of R bytes: chunk j holds byte j of every row's block, row r at byte r (ggml's nibble order:
 *           element j in the low nibble, element j + 16 in the high one, unsigned 0..15)
 * </pre>
 * A group's blocks follow each other, so a thread reads one sequential stream per group.
 *
 * <p><b>Kernel</b> ({@link RowLaneKernel#group4}). The lanes are rows, so nothing is reduced across lanes: chunk j
 * widens to R 16-bit lanes, and its low and high nibbles multiply the broadcast Q8 codes of elements j and j + 16
 * into one 16-bit accumulator per 8 chunks (at most 2·8·15·127 = 30480 in magnitude), or per block where the block's
 * codes bound its sum within 16 bits ({@link RowLaneGemv.Operand#fits}), which then widens to 32-bit lanes. Per
 * block the sum gets {@code −8·Σx_q} (the zero point, from the activations' block sum) and converts once; the rows'
 * F32 sums take {@code fma(Σ(nib − 8)·x_q, d_w·d_x, sum)}, as the scalar path computes it, so both give the same
 * bits. Per 64 weights that is one widening, a shift, two multiplies and two adds (no mask: see
 * {@link RowLaneKernel}); the 4-row layout's kernel pays about three times as many operations for its horizontal pair
 * sums (measured: one thread, thread CPU time, 8192×2048 from DRAM, 6.0–6.8 against 3.6–4.1 GB/s).
 */
public final class Q4_0Lanes extends RowLaneGemv {
    /** Bytes of one group-block. */
    static final int GB = (int) RowLaneKernel.groupBlockBytes(QK / 2);

    private Q4_0Lanes(int rows, int in, MemorySegment blocks) {
        super("Q4_0 lanes", rows, in, GB, blocks);
    }

    /**
     * Repacks {@code rows} llama.cpp Q4_0 rows of {@code in} elements at {@code wOff} into a segment from
     * {@code allocator} (its lifetime is the allocator's).
     */
    public static Q4_0Lanes pack(MemorySegment w, long wOff, int rows, int in, SegmentAllocator allocator) {
        QuantVectors.requireBlocks(in, "Q4_0 lanes pack");
        QuantVectors.requirePositive(rows, "Q4_0 lanes pack rows");
        long rb = Q4_0.rowBytes(in);
        QuantVectors.requireBytes(w, wOff, rows * rb, "Q4_0 lanes pack source");
        MemorySegment p = RowLaneKernel.pack(rows, in / QK, QK / 2, (byte) 0x88, (row, b, dst) -> {
            long o = wOff + row * rb + (long) b * Q4_0.BLOCK_BYTES;
            MemorySegment.copy(w, ValueLayout.JAVA_BYTE, o + 2, dst, 0, QK / 2);
            return QuantVectors.f16(w, o);
        }, allocator);
        return new Q4_0Lanes(rows, in, p);
    }

    /** Block {@code b}'s scale of row {@code r}, widened exactly from the fp16 original. */
    float scale(int r, int b) {
        return blocks.get(F32, RowLaneKernel.scaleAt(r, b, nb, GB));
    }

    /** Byte {@code j} (0..15) of row {@code r}'s block {@code b}: element j low, element j + 16 high. */
    int quantByte(int r, int b, int j) {
        return blocks.get(ValueLayout.JAVA_BYTE, RowLaneKernel.byteAt(r, b, j, nb, GB)) & 0xff;
    }

    /** Row {@code r} dequantized to F32 {@code d·(nib − 8)} at {@code dst + dstOff}: as {@link Q4_0#dequantize}. */
    @Override
    public void dequantizeRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, 4L * in, "Q4_0 lanes dequantize destination");
        for (int b = 0; b < nb; b++) {
            float d = scale(r, b);
            for (int j = 0; j < QK / 2; j++) {
                int q = quantByte(r, b, j);
                dst.set(F32, dstOff + 4L * (b * QK + j), d * ((q & 0xf) - 8));
                dst.set(F32, dstOff + 4L * (b * QK + j + QK / 2), d * ((q >>> 4) - 8));
            }
        }
    }

    /** Writes row {@code r} back in llama.cpp's Q4_0 block format (the fp16 scale is the original, exactly). */
    @Override
    public void exportRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, Q4_0.rowBytes(in), "Q4_0 lanes export destination");
        for (int b = 0; b < nb; b++) {
            long o = dstOff + (long) b * Q4_0.BLOCK_BYTES;
            dst.set(QuantVectors.I16, o, Float.floatToFloat16(scale(r, b)));
            for (int j = 0; j < QK / 2; j++) {
                dst.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) quantByte(r, b, j));
            }
        }
    }

    /**
     * The prefill panels' column decode ({@link PackedPanels#Q4_0_LANES}): rows {@code [row0, row0 + L)}, inputs
     * {@code [k0, k0 + kc)} into {@code dst[off + k·stride + j]} as {@code nib − 8}, times the rows' scales where
     * {@code scaled}; one load per chunk gives both its elements' columns. False (nothing written) unless the rows are
     * one vector inside a group.
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
            for (int j = 0; j < QK / 2; j++) {
                IntVector v = (IntVector) ByteVector.fromMemorySegment(BQ, blocks,
                        base + RowLaneKernel.QOFF + (long) j * R + lane, LE).convertShape(VectorOperators.B2I, I, 0);
                FloatVector lo = (FloatVector) v.and(15).sub(8).convert(VectorOperators.I2F, 0);
                FloatVector hi = (FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(15).sub(8)
                        .convert(VectorOperators.I2F, 0);
                if (scaled) {
                    lo = lo.mul(s);
                    hi = hi.mul(s);
                }
                if (j < m) {
                    lo.intoArray(dst, off + (k + j) * stride);
                }
                if (j + QK / 2 < m) {
                    hi.intoArray(dst, off + (k + j + QK / 2) * stride);
                }
            }
        }
        return true;
    }

    @Override
    void kernel4(Operand op, int t, long oa, long ob, long oc, long od, MemorySegment y, long ya, long yb, long yc,
            long yd) {
        RowLaneKernel.group4(blocks, oa, ob, oc, od, nb, QK / 2, GB, op.codes, t * in, op.scales, op.zeros, t * nb,
                op.fits, y, ya, yb, yc, yd);
    }

    @Override
    float rowScalar(Operand op, int t, int row) {
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            int isum = op.zeros[t * nb + b];
            for (int j = 0; j < QK / 2; j++) {
                int q = quantByte(row, b, j);
                isum += (q & 0xf) * op.codes[t * in + b * QK + j] + (q >>> 4) * op.codes[t * in + b * QK + j + 16];
            }
            sum = Math.fma((float) isum, scale(row, b) * op.scales[t * nb + b], sum);
        }
        return sum;
    }
}
