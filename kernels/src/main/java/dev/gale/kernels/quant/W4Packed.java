package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F32;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;

/**
 * {@link W4Weights} with group size 128 repacked once at load into <b>row lanes</b>; <b>the class to use for the
 * W4A4/W4A8 decode GEMV</b>, as {@link Q4_0Lanes} is for Q4_0. {@link W4Weights} stays the import format (GGUF), the
 * input of the references, of the device kernels and of the prefill GEMM; {@link W4AxMatmul}'s row-major GEMV
 * remains as the baseline.
 *
 * <p><b>Layout</b> (the one {@link Q4_0Lanes} uses, with 128-element blocks). Rows go in groups of {@link #R}, the
 * 16-bit lanes of one vector (32 at 512 bits, 16 at 256); the last group is padded with rows of scale 0 and nibbles
 * 8, which are exactly zero. Group {@code g}, block {@code b} ({@code nb = in/128}) is one contiguous group-block of
 * {@code 68·R} bytes at {@code 68·R·(g·nb + b)}:
 * <pre>
 *   +0      R F32: the block's weight scale of rows gR .. gR+R−1
 *   +4R     64 chunks of R bytes: chunk j holds byte j of every row's block in W4Weights, row r at byte r, XOR 0x88
 *           (element j in the low nibble, element j + 64 in the high one, each two's-complement q now q + 8 in 0..15)
 * </pre>
 * A group's blocks follow each other, so a range of groups is one sequential stream.
 *
 * <p><b>Kernel.</b> The lanes are rows, so nothing is reduced across lanes: chunk j widens to R 16-bit lanes, and
 * its low and high nibbles multiply the broadcast activation codes of elements j and j + 64 into one 16-bit
 * accumulator. An A4 block's 128 products are at most 128·15·7 = 13440 in magnitude, so its whole block adds up in
 * 16 bits and widens to 32 bits once; an A8 block widens every 8 chunks (16·15·127 = 30480 &lt; 2^15). The block sum
 * gets the zero point {@code −8·Σq_x} in integers, converts once, and the rows' F32 sums take
 * {@code fma(Σ(u − 8)·q_x, s_w·s_x, sum)}, as the scalar path computes it, so both give the same bits, each block sum
 * exact. Per 128 weights and row the kernel reads 68 bytes (Q4_0's lanes: 80).
 *
 * <p>This replaced a 4-row layout whose 16-bit row-pair sums went through memory for a horizontal add (the Q4_0
 * kernel {@link Q4_0Lanes} replaced, 2026-11-28): see the README's W4Ax rows for the measured step.
 *
 * <p>One token per call (decode; more tokens go to the GEMM). The row-range entry point runs on the calling thread
 * and allocates nothing; {@link #gemvParallel} splits groups over {@link WorkerPool#shared()}, four row groups per
 * pass as four memory streams ({@link RowLaneSchedule}, shared with {@link Q4_0Lanes} and {@link Q8_0Lanes}). Where
 * the preferred vector shape is not 256 or 512 bits the entry points run a scalar loop over the packed layout with
 * the same sums. Immutable after {@link #pack}; safe to share between threads.
 */
public final class W4Packed extends RowLaneSchedule<ActivationQuant> {
    /** Code bytes per row and block: W4Weights' bytes, element j low and j + 64 high. */
    private static final int CHUNKS = W4Weights.BLOCK_BYTES;
    /** Bytes of one group-block. */
    static final int GB = (int) RowLaneKernel.groupBlockBytes(CHUNKS);
    private W4Packed(int rows, int in, MemorySegment blocks) {
        super(rows, in, in / W4Weights.BLOCK, GB, blocks);
    }

    /** Whether {@code w} has a packed decode form (group size 128: one weight scale per row and block). */
    public static boolean supports(W4Weights w) {
        return w.group() == W4Weights.BLOCK;
    }

    /** Repacks {@code w} (group size 128) into a segment from {@code allocator} (its lifetime is the allocator's). */
    public static W4Packed pack(W4Weights w, SegmentAllocator allocator) {
        if (!supports(w)) {
            throw new ShapeMismatchException("W4 packed decode layout needs group size " + W4Weights.BLOCK + ", not "
                    + w.group());
        }
        int rows = w.rows();
        int in = w.in();
        int nb = in / W4Weights.BLOCK;
        long rowBytes = in / 2;
        MemorySegment src = w.codes();
        MemorySegment srcScales = w.scales();
        MemorySegment p = RowLaneKernel.pack(rows, nb, CHUNKS, (byte) 0x88, (row, b, dst) -> {
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, row * rowBytes + (long) b * CHUNKS, dst, 0, CHUNKS);
            for (int j = 0; j < CHUNKS; j++) {
                dst[j] ^= (byte) 0x88;
            }
            return srcScales.get(F32, 4L * ((long) row * nb + b));
        }, allocator);
        return new W4Packed(rows, in, p);
    }

    /** The stored (unsigned, q + 8) byte {@code j} (0..63) of row {@code r}'s block {@code b}. */
    private int unsignedByte(int r, int b, int j) {
        return blocks.get(ValueLayout.JAVA_BYTE, RowLaneKernel.byteAt(r, b, j, nb, GB)) & 0xff;
    }

    /** The signed code of row {@code r}, element {@code c}, read back from the packed layout (tests). */
    public int code(int r, int c) {
        QuantVectors.requireRange(r, r + 1, rows);
        int e = c % W4Weights.BLOCK;
        int u = unsignedByte(r, c / W4Weights.BLOCK, e % CHUNKS);
        return (e < CHUNKS ? u & 0xf : u >>> 4) - 8;
    }

    /** The weight scale of row {@code r}, block {@code b} (tests). */
    public float scale(int r, int b) {
        QuantVectors.requireRange(r, r + 1, rows);
        return blocks.get(F32, RowLaneKernel.scaleAt(r, b, nb, GB));
    }

    /** {@code y[r] = x[0]·W[r]} for every row, groups over the shared worker pool (see the class comment). */
    public void gemvParallel(ActivationQuant x, MemorySegment y, long yOff) {
        check(x, y, yOff);
        if (QuantVectors.VECTOR_OK) {
            x.prepareGemvOperand();
        }
        parallel(x, 1, y, yOff);
    }

    /**
     * Rows {@code [rowStart, rowEnd)} of the one-token product on the calling thread, the whole groups inside the
     * range four at a time as {@link #gemvParallel} runs them; allocates nothing.
     */
    public void gemv(ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        check(x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        if (QuantVectors.VECTOR_OK) {
            x.prepareGemvOperand();
        }
        range(x, 1, y, yOff, rowStart, rowEnd);
    }

    @Override
    void kernel4(ActivationQuant x, int t, long oa, long ob, long oc, long od, MemorySegment y, long ya, long yb,
            long yc, long yd) {
        RowLaneKernel.group4(blocks, oa, ob, oc, od, nb, CHUNKS, GB, x.gemvCodes(), 0, x.gemvScales(),
                x.gemvZeros(), 0, x.fourBitMap(), y, ya, yb, yc, yd);
    }

    /**
     * The same sums in plain Java (hardware without 256/512-bit vectors): exact integer block sums with the zero
     * point, then {@code fma(sum, s_w·s_x, acc)} per block, the vector kernel's bits.
     */
    @Override
    float rowScalar(ActivationQuant x, int t, int row) {
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            int isum = 0;
            for (int j = 0; j < CHUNKS; j++) {
                int u = unsignedByte(row, b, j);
                int c = W4Weights.BLOCK * b + j;
                isum += ((u & 0xf) - 8) * x.code(t, c) + ((u >>> 4) - 8) * x.code(t, c + CHUNKS);
            }
            sum = Math.fma((float) isum, scale(row, b) * x.scale(t, b), sum);
        }
        return sum;
    }

    private void check(ActivationQuant x, MemorySegment y, long yOff) {
        if (x.in() != in) {
            throw new ShapeMismatchException("W4 packed GEMV: weights have " + in + " columns, the activations "
                    + x.in());
        }
        if (x.tokens() != 1) {
            throw new ShapeMismatchException("W4 packed GEMV takes one token, the activations hold " + x.tokens());
        }
        QuantVectors.requireBytes(y, yOff, 4L * rows, "W4 packed GEMV output");
    }
}
