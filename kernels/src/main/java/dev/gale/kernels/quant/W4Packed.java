package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F32;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.Arena;
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
 * and allocates nothing; {@link #gemvParallel} splits groups over {@link WorkerPool#shared()}, and each thread runs
 * its whole groups four at a time, group i of its range beside groups q + i, 2q + i and 3q + i
 * ({@link RowLaneKernel#group4}), so its weights arrive as four memory streams (as {@link Q4_0Lanes} does). Where
 * the preferred vector shape is not 256 or 512 bits the entry points run a scalar loop over the packed layout with
 * the same sums. Immutable after {@link #pack}; safe to share between threads.
 */
public final class W4Packed {
    /** Rows per group: the 16-bit lanes of a vector ({@link RowLaneKernel#R}). */
    static final int R = RowLaneKernel.R;
    /** Code bytes per row and block: W4Weights' bytes, element j low and j + 64 high. */
    private static final int CHUNKS = W4Weights.BLOCK_BYTES;
    /** Bytes of one group-block. */
    static final int GB = (int) RowLaneKernel.groupBlockBytes(CHUNKS);
    /** Per thread running the kernel: a group's outputs when only some of its rows are wanted. */
    private static final ThreadLocal<MemorySegment> PARTIAL = ThreadLocal.withInitial(
            () -> Arena.global().allocate(4L * R, 64));

    private final int rows;
    private final int in;
    private final int nb;
    private final int groups;
    private final MemorySegment blocks;

    private W4Packed(int rows, int in, MemorySegment blocks) {
        this.rows = rows;
        this.in = in;
        this.nb = in / W4Weights.BLOCK;
        this.groups = (rows + R - 1) / R;
        this.blocks = blocks;
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

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    /** Bytes the kernel streams per GEMV (codes and scales, padding included). */
    public long byteSize() {
        return blocks.byteSize();
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
        int grain = Math.max(1, Q4_0Matmul.grain(in, 1) * 4 / R);
        if (!QuantVectors.VECTOR_OK) {
            WorkerPool.shared().parallelForBalanced(groups, grain,
                    (s, e) -> groups(x, y, yOff, R * s, Math.min(rows, R * e)));
            return;
        }
        x.prepareGemvOperand();
        int whole = rows / R;
        // at least a quad per chunk: a 512-row matrix (16 groups) split into 8 chunks of 2 read one stream each
        WorkerPool.shared().parallelForBalanced(whole, Math.max(RowLaneKernel.STREAMS, grain),
                (s, e) -> quads(x, y, yOff, s, e));
        if (whole < groups) {
            groups(x, y, yOff, R * whole, rows);
        }
    }

    /**
     * Rows {@code [rowStart, rowEnd)} of the one-token product on the calling thread, the whole groups inside the
     * range four at a time as {@link #gemvParallel} runs them; allocates nothing.
     */
    public void gemv(ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        check(x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        if (!QuantVectors.VECTOR_OK) {
            groups(x, y, yOff, rowStart, rowEnd);
            return;
        }
        x.prepareGemvOperand();
        int g0 = (rowStart + R - 1) / R;
        int g1 = rowEnd / R;
        if (g0 >= g1) {
            groups(x, y, yOff, rowStart, rowEnd);
            return;
        }
        if (rowStart < R * g0) {
            groups(x, y, yOff, rowStart, R * g0);
        }
        quads(x, y, yOff, g0, g1);
        if (R * g1 < rowEnd) {
            groups(x, y, yOff, R * g1, rowEnd);
        }
    }

    /**
     * Whole groups {@code [g0, g1)}: group {@code g0 + i} beside groups {@code g0 + q + i}, {@code g0 + 2q + i} and
     * {@code g0 + 3q + i}; a remainder of one to three groups runs as one more pass that names its last group again
     * (the repeated stream reads lines already in L1 and writes the same values).
     */
    private void quads(ActivationQuant x, MemorySegment y, long yOff, int g0, int g1) {
        int q = (g1 - g0) / 4;
        for (int i = 0; i < q; i++) {
            int ga = g0 + i;
            four(x, ga, ga + q, ga + 2 * q, ga + 3 * q, y, yOff);
        }
        int rest = g0 + 4 * q;
        if (rest < g1) {
            int last = g1 - 1;
            four(x, rest, Math.min(rest + 1, last), Math.min(rest + 2, last), last, y, yOff);
        }
    }

    /** Groups {@code ga .. gd} through {@link RowLaneKernel#group4}, each writing its rows of {@code y}. */
    private void four(ActivationQuant x, int ga, int gb, int gc, int gd, MemorySegment y, long yOff) {
        long step = (long) nb * GB;
        long rowStep = 4L * R;
        RowLaneKernel.group4(blocks, ga * step, gb * step, gc * step, gd * step, nb, CHUNKS, GB, x.gemvCodes(), 0,
                x.gemvScales(), x.gemvZeros(), 0, x.fourBitMap(), y, yOff + rowStep * ga, yOff + rowStep * gb,
                yOff + rowStep * gc, yOff + rowStep * gd);
    }

    /**
     * Rows {@code [rowStart, rowEnd)} group by group. A lone group runs through {@link RowLaneKernel#group4} as all
     * four of its groups: the other streams read the same lines from L1, and there is one kernel.
     */
    private void groups(ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        MemorySegment partial = PARTIAL.get();
        for (int g = rowStart / R; R * g < rowEnd; g++) {
            int k0 = Math.max(rowStart, R * g) - R * g;
            int k1 = Math.min(rowEnd, R * g + R) - R * g;
            long yo = yOff + 4L * R * g;
            boolean whole = k0 == 0 && k1 == R;
            if (QuantVectors.VECTOR_OK) {
                long step = (long) nb * GB;
                MemorySegment out = whole ? y : partial;
                long at = whole ? yo : 0;
                RowLaneKernel.group4(blocks, g * step, g * step, g * step, g * step, nb, CHUNKS, GB, x.gemvCodes(), 0,
                        x.gemvScales(), x.gemvZeros(), 0, x.fourBitMap(), out, at, at, at, at);
            } else {
                groupScalar(g, x, partial);
            }
            if (!QuantVectors.VECTOR_OK || !whole) {
                MemorySegment.copy(partial, 4L * k0, y, yo + 4L * k0, 4L * (k1 - k0));
            }
        }
    }

    /**
     * The same sums in plain Java into {@code out[0, R)} (hardware without 256/512-bit vectors): exact integer block
     * sums with the zero point, then {@code fma(sum, s_w·s_x, acc)} per block, the vector kernel's bits.
     */
    private void groupScalar(int g, ActivationQuant x, MemorySegment out) {
        for (int r = 0; r < R; r++) {
            int row = R * g + r;
            float sum = 0;
            for (int b = 0; row < rows && b < nb; b++) {
                int isum = 0;
                for (int j = 0; j < CHUNKS; j++) {
                    int u = unsignedByte(row, b, j);
                    int c = W4Weights.BLOCK * b + j;
                    isum += ((u & 0xf) - 8) * x.code(0, c) + ((u >>> 4) - 8) * x.code(0, c + CHUNKS);
                }
                sum = Math.fma((float) isum, scale(row, b) * x.scale(0, b), sum);
            }
            out.set(F32, 4L * r, sum);
        }
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
