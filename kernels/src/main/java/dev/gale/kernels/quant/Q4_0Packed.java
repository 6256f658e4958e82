package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F32;
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
import jdk.incubator.vector.VectorSpecies;

/**
 * Q4_0 weights repacked once at load into Gale's decode layout; <b>the class to use for Q4_0 decode</b> (GEMV, and
 * small token counts by looping tokens over each cache-resident 4-row group). {@link Q4_0} stays the import/export
 * format and the input of the scalar references; {@link Q4_0Matmul} reads that format directly and remains as the
 * baseline and for prefill tiles.
 *
 * <p><b>Layout.</b> Rows are padded to a multiple of 4 ({@code groups = ⌈rows/4⌉}); padding rows have scale 0 and
 * nibbles 8, so they are exactly zero. For group {@code g}, block {@code b} ({@code nb = in/32}):
 * <pre>
 *   quants: 64 bytes at 64·(g·nb + b), two row pairs (rows 4g, 4g+1, then 4g+2, 4g+3) of 32 bytes each:
 *           [first row's bytes 0-7 | second row's bytes 0-7 | first row's bytes 8-15 | second row's bytes 8-15],
 *           each row's 16 bytes in ggml's nibble order (byte j: element j in the low nibble, element j + 16 in the
 *           high nibble, unsigned 0..15)
 *   scales: 4 F32 at 16·(g·nb + b): d of rows 4g .. 4g+3 (the fp16 scale widened once, exactly)
 * </pre>
 * A group's data is one contiguous stream, so one activation load feeds 4 rows, and the kernels read no fp16 in the
 * hot loop. The pairs interleave by halves.
 *
 * <p><b>Kernel:</b> F32 activations (the Q4_0 decode path below 512-bit vectors; Q8 activations run on
 * {@link Q4_0Lanes}). A row's 8 nibble bytes zero-extend from a quarter-width byte load (part 0, no shuffle) to int
 * lanes. With {@code v = lo + 16·hi}, {@code lo·xl + hi·xh = v·xl + hi·(xh − 16·xl)}: each row converts {@code v} and
 * {@code v >>> 4} to F32 and does two FMAs, with no mask (measured about 10 % faster than masking the low nibble);
 * {@code xh − 16·xl} comes from {@link #prepare}, formed once per call for all rows. The zero point is folded into the
 * block: each row's block sum starts at {@code −8·Σx_block} (prepared once per call with {@code xh − 16·xl}); one
 * scale FMA per row and block. The error is F32 summation error relative to the terms added,
 * {@code Σ|v·xl| + |hi·(xh − 16·xl)|} plus {@code 8·|Σx|} per block (up to 16× the magnitude of
 * {@code Σ|(nib − 8)·x|}, still far below the Q8-activation rounding error). An infinite activation meets itself with
 * both signs in those sums, so the output is NaN where the reference may give ±Inf: non-finite in, non-finite out, as
 * the cross-device suite checks.
 *
 * <p>Row-range entry points run on the calling thread and allocate nothing once the calling thread's prepared
 * activations have grown to the call's size; the {@code Parallel} one splits 4-row groups over
 * {@link WorkerPool#shared()}, preparing once, on the calling thread, for all workers. Immutable after
 * {@link #pack}; safe to share between threads.
 */
public final class Q4_0Packed {
    /**
     * Low nibbles need no mask: a byte {@code v = lo + 16·hi} converts exactly, and {@code lo·xl + hi·xh =
     * v·xl + hi·(xh − 16·xl)}, so each row pays one conversion of the whole byte and one of {@code v >>> 4}, while
     * {@code xh − 16·xl} is formed outside the rows' work ({@link #prepare} for F32 activations).
     */
    private static final FloatVector M16 = FloatVector.broadcast(FloatVector.SPECIES_256, -16f);
    private static final FloatVector MINUS8 = FloatVector.broadcast(FloatVector.SPECIES_256, -8f);
    /** Bytes of one group-block of quants (4 rows × 16). */
    static final int GQ = 64;
    /** Bytes of one group-block of scales (4 rows × F32). */
    static final int GS = 16;
    /** Bytes per token and block of the F32 kernel's prepared activations: 16 F32 {@code xh − 16·xl}, 8 F32 sums. */
    private static final int PREP = 96;
    /**
     * The F32 kernel reads 8 nibble bytes and 8 floats per load, so it is written for 256-bit vectors; a wider
     * machine runs it at 256 bits.
     */
    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I8 = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    /** Per calling thread: the F32 kernel's prepared activations ({@link #prepare}). */
    private static final ThreadLocal<MemorySegment[]> PREPARED = ThreadLocal.withInitial(() -> new MemorySegment[1]);
    /** Distance in a group-block from a row's bytes 0-7 to its bytes 8-15. */
    private static final int HALF = 16;
    /**
     * Offset in a group-block of row {@code rr}'s (0..3) bytes 0-7; its bytes 8-15 follow {@link #HALF} later.
     */
    private static int rowInBlock(int rr) {
        return 32 * (rr >> 1) + 8 * (rr & 1);
    }

    /** Offset in a group-block of byte {@code j} (0..15) of row {@code rr}. */
    private static int byteInBlock(int rr, int j) {
        return rowInBlock(rr) + (j < 8 ? j : j - 8 + HALF);
    }

    private final int rows;
    private final int in;
    private final int nb;
    private final int groups;
    private final MemorySegment quants;
    private final MemorySegment scales;

    private Q4_0Packed(int rows, int in, MemorySegment quants, MemorySegment scales) {
        this.rows = rows;
        this.in = in;
        this.nb = in / QK;
        this.groups = (rows + 3) / 4;
        this.quants = quants;
        this.scales = scales;
    }

    /**
     * Repacks {@code rows} llama.cpp Q4_0 rows of {@code in} elements at {@code wOff} into segments from
     * {@code allocator} (their lifetime is the allocator's).
     */
    public static Q4_0Packed pack(MemorySegment w, long wOff, int rows, int in, SegmentAllocator allocator) {
        QuantVectors.requireBlocks(in, "Q4_0 pack");
        QuantVectors.requirePositive(rows, "Q4_0 pack rows");
        long rb = Q4_0.rowBytes(in);
        QuantVectors.requireBytes(w, wOff, rows * rb, "Q4_0 pack source");
        int nb = in / QK;
        int groups = (rows + 3) / 4;
        MemorySegment q = allocator.allocate(Math.max(1L, (long) groups * nb * GQ), 64);
        MemorySegment s = allocator.allocate(Math.max(1L, (long) groups * nb * GS), 64);
        for (int g = 0; g < groups; g++) {
            for (int b = 0; b < nb; b++) {
                long gb = (long) g * nb + b;
                for (int rr = 0; rr < 4; rr++) {
                    int r = 4 * g + rr;
                    long qo = gb * GQ + rowInBlock(rr);
                    if (r < rows) {
                        long o = wOff + r * rb + (long) b * Q4_0.BLOCK_BYTES;
                        s.set(F32, gb * GS + 4L * rr, QuantVectors.f16(w, o));
                        MemorySegment.copy(w, o + 2, q, qo, 8);
                        MemorySegment.copy(w, o + 10, q, qo + HALF, 8);
                    } else {
                        s.set(F32, gb * GS + 4L * rr, 0f);
                        q.asSlice(qo, 8).fill((byte) 0x88);
                        q.asSlice(qo + HALF, 8).fill((byte) 0x88);
                    }
                }
            }
        }
        return new Q4_0Packed(rows, in, q, s);
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

    /** Row {@code r} dequantized to F32 {@code d·(nib − 8)} at {@code dst + dstOff}: equal to {@link Q4_0#dequantize}. */
    public void dequantizeRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, 4L * in, "Q4_0 packed dequantize destination");
        int g = r / 4;
        int rr = r % 4;
        for (int b = 0; b < nb; b++) {
            long gb = (long) g * nb + b;
            float d = scales.get(F32, gb * GS + 4L * rr);
            for (int j = 0; j < QK / 2; j++) {
                int q = quants.get(ValueLayout.JAVA_BYTE, gb * GQ + byteInBlock(rr, j)) & 0xff;
                dst.set(F32, dstOff + 4L * (b * QK + j), d * ((q & 0xf) - 8));
                dst.set(F32, dstOff + 4L * (b * QK + j + QK / 2), d * ((q >>> 4) - 8));
            }
        }
    }

    /** Writes row {@code r} back in llama.cpp's Q4_0 block format (the fp16 scale is the original, exactly). */
    public void exportRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, Q4_0.rowBytes(in), "Q4_0 packed export destination");
        int g = r / 4;
        int rr = r % 4;
        for (int b = 0; b < nb; b++) {
            long gb = (long) g * nb + b;
            long o = dstOff + (long) b * Q4_0.BLOCK_BYTES;
            dst.set(QuantVectors.I16, o, Float.floatToFloat16(scales.get(F32, gb * GS + 4L * rr)));
            MemorySegment.copy(quants, gb * GQ + rowInBlock(rr), dst, o + 2, 8);
            MemorySegment.copy(quants, gb * GQ + rowInBlock(rr) + HALF, dst, o + 10, 8);
        }
    }

    // ------------------------------------------------------------------ F32 activations

    /** {@code Y[t][r] = X[t]·W[r]} for all rows, 4-row groups split over the shared worker pool. */
    public void matmulF32Parallel(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        checkF32(x, xOff, tokens, y, yOff);
        MemorySegment prep = QuantVectors.VECTOR_OK ? prepare(x, xOff, tokens) : null;
        WorkerPool.shared().parallelForBalanced(groups, grain(tokens),
                (s, e) -> groupsF32(x, xOff, tokens, prep, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread (prepares the activations for this call). */
    public void matmulF32(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff, int rowStart,
            int rowEnd) {
        checkF32(x, xOff, tokens, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        groupsF32(x, xOff, tokens, y, yOff, rowStart, rowEnd);
    }

    private void groupsF32(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff, int rowStart,
            int rowEnd) {
        groupsF32(x, xOff, tokens, QuantVectors.VECTOR_OK ? prepare(x, xOff, tokens) : null, y, yOff, rowStart,
                rowEnd);
    }

    private void groupsF32(MemorySegment x, long xOff, int tokens, MemorySegment prep, MemorySegment y, long yOff,
            int rowStart, int rowEnd) {
        for (int g = rowStart / 4; 4 * g < rowEnd; g++) {
            int lo = Math.max(rowStart, 4 * g);
            int hi = Math.min(rowEnd, 4 * g + 4);
            for (int t = 0; t < tokens; t++) {
                long xo = xOff + 4L * t * in;
                long yo = yOff + 4L * ((long) t * rows + 4 * g);
                if (QuantVectors.VECTOR_OK) {
                    groupF32(quants, (long) g * nb * GQ, scales, (long) g * nb * GS, nb, x, xo, prep,
                            (long) t * nb * PREP, y, yo, lo - 4 * g, hi - 4 * g);
                } else {
                    groupF32Scalar(g, x, xo, y, yo, lo - 4 * g, hi - 4 * g);
                }
            }
        }
    }

    /**
     * The row-independent part of the F32 kernel, once per call instead of once per 4-row group: per token and block,
     * {@code xh − 16·xl} for the block's 16 high columns and {@code −8·Σx} as the 8 partial sums the kernel starts
     * each row's block sum from, in this thread's buffer. The same operations in the same order as when the kernel
     * formed them itself, so the results are the same bits; the kernel is smaller for it, which matters to C2: the
     * group kernel sits near C2's inlining node budget, and a compile that runs out of it leaves calls (and the
     * bounds checks they pin) in the block loop.
     */
    private MemorySegment prepare(MemorySegment x, long xOff, int tokens) {
        long bytes = (long) tokens * nb * PREP;
        MemorySegment[] slot = PREPARED.get();
        if (slot[0] == null || slot[0].byteSize() < bytes) {
            // global memory, grown geometrically and never freed: one buffer per calling thread, at most twice the
            // largest call
            slot[0] = Arena.global().allocate(Math.max(bytes, 2 * (slot[0] == null ? 0 : slot[0].byteSize())), 64);
        }
        MemorySegment p = slot[0];
        for (int t = 0; t < tokens; t++) {
            for (int b = 0; b < nb; b++) {
                long xb = xOff + 4L * ((long) t * in + (long) b * QK);
                long pb = ((long) t * nb + b) * PREP;
                FloatVector a = FloatVector.fromMemorySegment(F8, x, xb, LE);
                FloatVector c = FloatVector.fromMemorySegment(F8, x, xb + 32, LE);
                FloatVector h0 = FloatVector.fromMemorySegment(F8, x, xb + 64, LE);
                FloatVector h1 = FloatVector.fromMemorySegment(F8, x, xb + 96, LE);
                a.lanewise(VectorOperators.FMA, M16, h0).intoMemorySegment(p, pb, LE);
                c.lanewise(VectorOperators.FMA, M16, h1).intoMemorySegment(p, pb + 32, LE);
                a.lanewise(VectorOperators.ADD, c).lanewise(VectorOperators.ADD, h0).lanewise(VectorOperators.ADD, h1)
                        .lanewise(VectorOperators.MUL, MINUS8).intoMemorySegment(p, pb + 64, LE);
            }
        }
        return p;
    }

    /**
     * One 4-row group · one token; writes rows {@code [k0, k1)} of the group at {@code yo + 4k}. Per block: each row's
     * block sum starts at the prepared {@code −8·Σx} (vector lanes), then 2 FMAs per nibble byte vector and row, then
     * one scale FMA per row.
     */
    private static void groupF32(MemorySegment q, long q0, MemorySegment s, long s0, int nb, MemorySegment x,
            long xo, MemorySegment prep, long po, MemorySegment y, long yo, int k0, int k1) {
        FloatVector acc0 = FloatVector.zero(F8);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        for (int b = 0; b < nb; b++) {
            long qb = q0 + (long) b * GQ;
            long xb = xo + 4L * b * QK;
            long pb = po + (long) b * PREP;
            FloatVector m8 = FloatVector.fromMemorySegment(F8, prep, pb + 64, LE);
            FloatVector p0 = m8;
            FloatVector p1 = m8;
            FloatVector p2 = m8;
            FloatVector p3 = m8;
            for (int j = 0; j < QK / 2; j += 8) {
                FloatVector xl = FloatVector.fromMemorySegment(F8, x, xb + 4L * j, LE);
                FloatVector xh = FloatVector.fromMemorySegment(F8, prep, pb + 4L * j, LE);
                IntVector n0 = (IntVector) ByteVector.fromMemorySegment(B8, q, qb + 2 * j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I8, 0);
                p0 = ((FloatVector) n0.convertShape(VectorOperators.I2F, F8, 0)).lanewise(VectorOperators.FMA, xl, p0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.LSHR, 4).convertShape(VectorOperators.I2F, F8, 0)).lanewise(VectorOperators.FMA, xh, p0);
                IntVector n1 = (IntVector) ByteVector.fromMemorySegment(B8, q, qb + 8 + 2 * j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I8, 0);
                p1 = ((FloatVector) n1.convertShape(VectorOperators.I2F, F8, 0)).lanewise(VectorOperators.FMA, xl, p1);
                p1 = ((FloatVector) n1.lanewise(VectorOperators.LSHR, 4).convertShape(VectorOperators.I2F, F8, 0)).lanewise(VectorOperators.FMA, xh, p1);
                IntVector n2 = (IntVector) ByteVector.fromMemorySegment(B8, q, qb + 32 + 2 * j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I8, 0);
                p2 = ((FloatVector) n2.convertShape(VectorOperators.I2F, F8, 0)).lanewise(VectorOperators.FMA, xl, p2);
                p2 = ((FloatVector) n2.lanewise(VectorOperators.LSHR, 4).convertShape(VectorOperators.I2F, F8, 0)).lanewise(VectorOperators.FMA, xh, p2);
                IntVector n3 = (IntVector) ByteVector.fromMemorySegment(B8, q, qb + 40 + 2 * j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I8, 0);
                p3 = ((FloatVector) n3.convertShape(VectorOperators.I2F, F8, 0)).lanewise(VectorOperators.FMA, xl, p3);
                p3 = ((FloatVector) n3.lanewise(VectorOperators.LSHR, 4).convertShape(VectorOperators.I2F, F8, 0)).lanewise(VectorOperators.FMA, xh, p3);
            }
            long sb = s0 + (long) b * GS;
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F8, s.get(F32, sb)), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F8, s.get(F32, sb + 4)), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F8, s.get(F32, sb + 8)), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F8, s.get(F32, sb + 12)), acc3);
        }
        store4(y, yo, k0, k1, acc0.reduceLanes(VectorOperators.ADD), acc1.reduceLanes(VectorOperators.ADD),
                acc2.reduceLanes(VectorOperators.ADD), acc3.reduceLanes(VectorOperators.ADD));
    }

    private void groupF32Scalar(int g, MemorySegment x, long xo, MemorySegment y, long yo, int k0, int k1) {
        for (int k = k0; k < k1; k++) {
            float sum = 0;
            for (int b = 0; b < nb; b++) {
                long gb = (long) g * nb + b;
                float bs = 0;
                for (int j = 0; j < QK / 2; j++) {
                    int q = quants.get(ValueLayout.JAVA_BYTE, gb * GQ + byteInBlock(k, j)) & 0xff;
                    bs += ((q & 0xf) - 8) * x.get(F32, xo + 4L * (b * QK + j));
                    bs += ((q >>> 4) - 8) * x.get(F32, xo + 4L * (b * QK + j + QK / 2));
                }
                sum += scales.get(F32, gb * GS + 4L * k) * bs;
            }
            y.set(F32, yo + 4L * k, sum);
        }
    }

    // ------------------------------------------------------------------ shared

    /** Stores the group's rows {@code [k0, k1)}; takes floats, not vectors, so nothing boxes if it is not inlined. */
    static void store4(MemorySegment y, long yo, int k0, int k1, float v0, float v1, float v2, float v3) {
        if (k0 <= 0 && 0 < k1) {
            y.set(F32, yo, v0);
        }
        if (k0 <= 1 && 1 < k1) {
            y.set(F32, yo + 4, v1);
        }
        if (k0 <= 2 && 2 < k1) {
            y.set(F32, yo + 8, v2);
        }
        if (k0 <= 3 && 3 < k1) {
            y.set(F32, yo + 12, v3);
        }
    }

    private int grain(int tokens) {
        return BlockMatmul.grain(in, tokens);
    }

    private void checkF32(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        QuantVectors.requirePositive(tokens, "Q4_0 packed matmul tokens");
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "Q4_0 packed matmul activations");
        QuantVectors.requireBytes(y, yOff, 4L * rows * tokens, "Q4_0 packed matmul output");
    }

    /** The packed quants ({@link PackedPanels} decodes them). */
    MemorySegment quants() {
        return quants;
    }

    /** The widened block scales. */
    MemorySegment scales() {
        return scales;
    }

    /**
     * Byte offset in {@link #quants()} of row {@code r}'s block {@code b}: its bytes 0-7 ({@code half} 0) or 8-15
     * ({@code half} 1).
     */
    long quantOffset(int r, int b, int half) {
        return ((long) (r / 4) * nb + b) * GQ + rowInBlock(r % 4) + (long) HALF * half;
    }

    /** Byte offset in {@link #scales()} of row {@code r}'s block {@code b} scale. */
    long scaleOffset(int r, int b) {
        return ((long) (r / 4) * nb + b) * GS + 4L * (r % 4);
    }
}
