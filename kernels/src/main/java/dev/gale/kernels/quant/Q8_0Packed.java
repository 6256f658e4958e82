package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;
import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q8_0 weights repacked once at load into a 4-row layout for decode on F32 activations: the Q8_0 decode below 512
 * bits when {@code -Dgale.q8.activations=f32} (GEMV, and small token counts by looping tokens over each
 * cache-resident 4-row group); on Q8 activations the decode runs {@link Q8_0Lanes}. {@link Q8_0} stays the import/export
 * format and the input of the scalar references; {@link Q8_0Matmul} reads that format directly and remains as the
 * baseline and for prefill tiles.
 *
 * <p><b>Layout.</b> Rows are padded to a multiple of 4 ({@code groups = ⌈rows/4⌉}); padding rows have scale 0 and
 * quants 0. One segment holds group-blocks of {@value #GB} bytes, group {@code g}, block {@code b} ({@code nb = in/32})
 * at {@code 144·(g·nb + b)}, in the order the GEMV reads them (one sequential stream per thread):
 * <pre>
 *   +0    4 F32: d of rows 4g .. 4g+3 (the fp16 scale widened once, exactly)
 *   +16   128 int8: the 32 quants of each of the 4 rows, permuted within the 128 bytes so that the kernel widens
 *         them by shifts instead of shuffles (below)
 * </pre>
 * The permutation, for lane count {@code L} and {@code T = 32/L} vectors per row-block: the group-block's quants are
 * {@code 4T} "weight vectors" {@code f = T·r + t} (row r, elements {@code t·L .. t·L+L−1}); vector {@code f} is byte
 * {@code f mod 4} of the {@code L} little-endian int32 lanes at {@code 16 + 4L·⌊f/4⌋}. So element {@code e = t·L + i}
 * of row {@code r} sits at {@code 16 + 4L·⌊f/4⌋ + 4i + (f mod 4)}; for L = 8 that is row r's own 32 bytes, byte
 * {@code 4i + t}. The layout depends on the machine's vector width; it is built at load and never leaves the process
 * ({@link #exportRow} writes llama.cpp's format).
 *
 * <p><b>Kernels.</b> A weight vector is one int load and a sign extension of byte k of every lane by two shifts
 * ({@code (v << 24−8k) >> 24}; one for k = 3), converted to F32. A byte→int {@code convertShape} from a quarter-width
 * load compiles to a lane-crossing {@code vpmovsxbd} that bounded the kernel: on Zen 3, one thread with the weights in
 * L2 streamed 11.3–11.5 GB/s that way and 14.6–15.2 GB/s with shifts (thread CPU time, medians of interleaved
 * rounds, bench {@code Q8GemvCeiling}), against about 9 GB/s of DRAM per thread when both cores read. Then one FMA per vector and row into a per-block sum (the first vector
 * multiplies instead: starting the sum from a zero vector measured 2× slower on C2/AVX2), one scale FMA per row and
 * block; each activation vector feeds 4 rows. The products and their order are those of the unpermuted kernel, so
 * results are bit-identical to it. (Its Q8-activation kernel, the same loop on widened codes, was retired when
 * {@link Q8_0Lanes} ran a 1B step's GEMVs faster than any F32-activation layout.) Row-range entry points run on the
 * calling thread and allocate nothing; {@link #matmulF32Parallel} splits 4-row groups over
 * {@link WorkerPool#shared()} in contiguous ranges, up to four per thread claimed in order
 * ({@link WorkerPool#parallelForBalanced}: a thread that is preempted or late from park leaves its later ranges to
 * the other). Immutable after {@link #pack}.
 */
public final class Q8_0Packed {
    /** Bytes of one group-block: 4 F32 scales, then 4 rows × 32 quants. */
    static final int GB = 144;
    /** Offset of the quants in a group-block. */
    static final int QOFF = 16;
    /** Lanes the permutation is built for: the vector kernels' {@code L}, or 8 where they do not run. */
    private static final int PL = QuantVectors.VECTOR_OK ? L : 8;
    /** Weight vectors per row-block. */
    private static final int T = QK / PL;

    private final int rows;
    private final int in;
    private final int nb;
    private final int groups;
    private final MemorySegment blocks;

    private Q8_0Packed(int rows, int in, MemorySegment blocks) {
        this.rows = rows;
        this.in = in;
        this.nb = in / QK;
        this.groups = (rows + 3) / 4;
        this.blocks = blocks;
    }

    /** Offset within a group-block of element {@code e} of row {@code rr} (0..3): the permutation above. */
    static int position(int rr, int e) {
        int f = T * rr + e / PL;
        return QOFF + 4 * PL * (f >> 2) + 4 * (e % PL) + (f & 3);
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
        MemorySegment p = allocator.allocate(Math.max(1L, (long) groups * nb * GB), 64);
        // Each group-block's quants are permuted in a heap array and copied to the segment in one bulk copy, rather
        // than by 128 checked single-byte segment writes per block.
        int[] at = new int[4 * QK];
        for (int i = 0; i < at.length; i++) {
            at[i] = position(i / QK, i % QK) - QOFF;
        }
        byte[] src = new byte[QK];
        byte[] blk = new byte[GB - QOFF];
        MemorySegment heap = MemorySegment.ofArray(blk);
        MemorySegment srcHeap = MemorySegment.ofArray(src);
        for (int g = 0; g < groups; g++) {
            for (int b = 0; b < nb; b++) {
                long gb = ((long) g * nb + b) * GB;
                for (int rr = 0; rr < 4; rr++) {
                    int r = 4 * g + rr;
                    if (r < rows) {
                        long o = wOff + r * rb + (long) b * Q8_0.BLOCK_BYTES;
                        p.set(F32, gb + 4L * rr, QuantVectors.f16(w, o));
                        MemorySegment.copy(w, o + 2, srcHeap, 0, QK);
                    } else { // padding row: scale 0, quants 0 (an allocator need not zero)
                        p.set(F32, gb + 4L * rr, 0f);
                        Arrays.fill(src, (byte) 0);
                    }
                    for (int e = 0; e < QK; e++) {
                        blk[at[QK * rr + e]] = src[e];
                    }
                }
                MemorySegment.copy(heap, 0, p, gb + QOFF, GB - QOFF);
            }
        }
        return new Q8_0Packed(rows, in, p);
    }

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    /** Bytes the kernels stream per GEMV (quants and scales, padding included). */
    public long byteSize() {
        return blocks.byteSize();
    }

    /** Row {@code r} dequantized to F32 {@code d·q} at {@code dst + dstOff}: equal to {@link Q8_0#dequantize}. */
    public void dequantizeRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, 4L * in, "Q8_0 packed dequantize destination");
        int g = r / 4;
        int rr = r % 4;
        for (int b = 0; b < nb; b++) {
            long gb = ((long) g * nb + b) * GB;
            float d = blocks.get(F32, gb + 4L * rr);
            for (int j = 0; j < QK; j++) {
                dst.set(F32, dstOff + 4L * (b * QK + j), d * blocks.get(ValueLayout.JAVA_BYTE, gb + position(rr, j)));
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
            long gb = ((long) g * nb + b) * GB;
            long o = dstOff + (long) b * Q8_0.BLOCK_BYTES;
            dst.set(QuantVectors.I16, o, Float.floatToFloat16(blocks.get(F32, gb + 4L * rr)));
            for (int j = 0; j < QK; j++) {
                dst.set(ValueLayout.JAVA_BYTE, o + 2 + j, blocks.get(ValueLayout.JAVA_BYTE, gb + position(rr, j)));
            }
        }
    }

    // ------------------------------------------------------------------ F32 activations

    /** {@code Y[t][r] = X[t]·W[r]} for all rows, 4-row groups split over the shared worker pool. */
    public void matmulF32Parallel(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        checkF32(x, xOff, tokens, y, yOff);
        WorkerPool.shared().parallelForBalanced(groups, grain(tokens),
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
                    groupF32(blocks, (long) g * nb * GB, nb, x, xo, y, yo, lo, hi);
                } else {
                    groupF32Scalar(g, x, xo, y, yo, lo, hi);
                }
            }
        }
    }

    /*
     * Weight vector f = T·r + t (row r, elements t·L ..) of a group-block is byte f mod 4 of the int lanes of load
     * ⌊f/4⌋: sign-extended by (v << 24−8k) >> 24 (no left shift for byte 3) and converted to F32. The kernels below
     * write every weight vector out for the two widths that run them, T = 4 (256-bit: load r holds row r, byte k its
     * vector t = k) and T = 2 (512-bit: load m holds rows 2m and 2m+1, bytes 0-1 and 2-3), with literal shift counts
     * (immediate shifts; counts in vectors cost a mask per shift and measured up to 1.2x slower at 512 bits).
     * Not a helper: a 77-byte weights(w, qb, f) was sometimes judged cold by C2 and left out of line at 512 bits,
     * which boxed every weight vector (120 per call in one run of QuantAllocationTest in two); split into helpers of
     * at most 35 bytecodes it boxed in every run (C2 declined them as too large in a caller this size). The products
     * and their order are unchanged: row r, vector t = 0 multiplies, then t = 1, 2, 3 fused-multiply-add.
     */

    private static void groupF32(MemorySegment w, long g0, int nb, MemorySegment x, long xo, MemorySegment y,
            long yo, int k0, int k1) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        for (int b = 0; b < nb; b++) {
            long sb = g0 + (long) b * GB;
            long qb = sb + QOFF;
            long xb = xo + 4L * b * QK;
            FloatVector x0 = FloatVector.fromMemorySegment(F, x, xb, LE);
            FloatVector x1 = FloatVector.fromMemorySegment(F, x, xb + 4L * L, LE);
            FloatVector p0;
            FloatVector p1;
            FloatVector p2;
            FloatVector p3;
            if (T == 2) {
                IntVector m0 = IntVector.fromMemorySegment(I, w, qb, LE);
                IntVector m1 = IntVector.fromMemorySegment(I, w, qb + 4L * L, LE);
                p0 = ((FloatVector) m0.lanewise(LSHL, 24).lanewise(ASHR, 24).convert(I2F, 0)).mul(x0);
                p1 = ((FloatVector) m0.lanewise(LSHL, 8).lanewise(ASHR, 24).convert(I2F, 0)).mul(x0);
                p2 = ((FloatVector) m1.lanewise(LSHL, 24).lanewise(ASHR, 24).convert(I2F, 0)).mul(x0);
                p3 = ((FloatVector) m1.lanewise(LSHL, 8).lanewise(ASHR, 24).convert(I2F, 0)).mul(x0);
                p0 = ((FloatVector) m0.lanewise(LSHL, 16).lanewise(ASHR, 24).convert(I2F, 0)).fma(x1, p0);
                p1 = ((FloatVector) m0.lanewise(ASHR, 24).convert(I2F, 0)).fma(x1, p1);
                p2 = ((FloatVector) m1.lanewise(LSHL, 16).lanewise(ASHR, 24).convert(I2F, 0)).fma(x1, p2);
                p3 = ((FloatVector) m1.lanewise(ASHR, 24).convert(I2F, 0)).fma(x1, p3);
            } else {
                FloatVector x2 = FloatVector.fromMemorySegment(F, x, xb + 8L * L, LE);
                FloatVector x3 = FloatVector.fromMemorySegment(F, x, xb + 12L * L, LE);
                IntVector m0 = IntVector.fromMemorySegment(I, w, qb, LE);
                IntVector m1 = IntVector.fromMemorySegment(I, w, qb + 4L * L, LE);
                IntVector m2 = IntVector.fromMemorySegment(I, w, qb + 8L * L, LE);
                IntVector m3 = IntVector.fromMemorySegment(I, w, qb + 12L * L, LE);
                p0 = ((FloatVector) m0.lanewise(LSHL, 24).lanewise(ASHR, 24).convert(I2F, 0)).mul(x0);
                p1 = ((FloatVector) m1.lanewise(LSHL, 24).lanewise(ASHR, 24).convert(I2F, 0)).mul(x0);
                p2 = ((FloatVector) m2.lanewise(LSHL, 24).lanewise(ASHR, 24).convert(I2F, 0)).mul(x0);
                p3 = ((FloatVector) m3.lanewise(LSHL, 24).lanewise(ASHR, 24).convert(I2F, 0)).mul(x0);
                p0 = ((FloatVector) m0.lanewise(LSHL, 16).lanewise(ASHR, 24).convert(I2F, 0)).fma(x1, p0);
                p1 = ((FloatVector) m1.lanewise(LSHL, 16).lanewise(ASHR, 24).convert(I2F, 0)).fma(x1, p1);
                p2 = ((FloatVector) m2.lanewise(LSHL, 16).lanewise(ASHR, 24).convert(I2F, 0)).fma(x1, p2);
                p3 = ((FloatVector) m3.lanewise(LSHL, 16).lanewise(ASHR, 24).convert(I2F, 0)).fma(x1, p3);
                p0 = ((FloatVector) m0.lanewise(LSHL, 8).lanewise(ASHR, 24).convert(I2F, 0)).fma(x2, p0);
                p1 = ((FloatVector) m1.lanewise(LSHL, 8).lanewise(ASHR, 24).convert(I2F, 0)).fma(x2, p1);
                p2 = ((FloatVector) m2.lanewise(LSHL, 8).lanewise(ASHR, 24).convert(I2F, 0)).fma(x2, p2);
                p3 = ((FloatVector) m3.lanewise(LSHL, 8).lanewise(ASHR, 24).convert(I2F, 0)).fma(x2, p3);
                p0 = ((FloatVector) m0.lanewise(ASHR, 24).convert(I2F, 0)).fma(x3, p0);
                p1 = ((FloatVector) m1.lanewise(ASHR, 24).convert(I2F, 0)).fma(x3, p1);
                p2 = ((FloatVector) m2.lanewise(ASHR, 24).convert(I2F, 0)).fma(x3, p2);
                p3 = ((FloatVector) m3.lanewise(ASHR, 24).convert(I2F, 0)).fma(x3, p3);
            }
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, w.get(F32, sb)), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, w.get(F32, sb + 4)), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, w.get(F32, sb + 8)), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, w.get(F32, sb + 12)), acc3);
        }
        Q4_0Packed.store4(y, yo, k0, k1, acc0.reduceLanes(VectorOperators.ADD), acc1.reduceLanes(VectorOperators.ADD),
                acc2.reduceLanes(VectorOperators.ADD), acc3.reduceLanes(VectorOperators.ADD));
    }

    private void groupF32Scalar(int g, MemorySegment x, long xo, MemorySegment y, long yo, int k0, int k1) {
        for (int k = k0; k < k1; k++) {
            float sum = 0;
            for (int b = 0; b < nb; b++) {
                long gb = ((long) g * nb + b) * GB;
                float bs = 0;
                for (int j = 0; j < QK; j++) {
                    bs += blocks.get(ValueLayout.JAVA_BYTE, gb + position(k, j)) * x.get(F32, xo + 4L * (b * QK + j));
                }
                sum += blocks.get(F32, gb + 4L * k) * bs;
            }
            y.set(F32, yo + 4L * k, sum);
        }
    }

    // ------------------------------------------------------------------ checks

    private int grain(int tokens) {
        return BlockMatmul.grain(in, tokens);
    }

    private void checkF32(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        QuantVectors.requirePositive(tokens, "Q8_0 packed matmul tokens");
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "Q8_0 packed matmul activations");
        QuantVectors.requireBytes(y, yOff, 4L * rows * tokens, "Q8_0 packed matmul output");
    }

    /** Quant {@code e} (0..31) of row {@code r}'s block {@code b} ({@link PackedPanels} decodes panels with it). */
    byte quant(int r, int b, int e) {
        return blocks.get(ValueLayout.JAVA_BYTE, ((long) (r / 4) * nb + b) * GB + position(r % 4, e));
    }

    /**
     * Row {@code r}'s block {@code b} as 32 floats at {@code dst[off..]} (vector kernels only: the layout's L lanes):
     * weight vector {@code t} is byte {@code f mod 4} of the int lanes at its offset, sign-extended by two shifts.
     */
    void decodeBlock(int r, int b, float[] dst, int off) {
        long base = ((long) (r / 4) * nb + b) * GB + QOFF;
        for (int t = 0; t < T; t++) {
            int f = T * (r % 4) + t;
            IntVector v = IntVector.fromMemorySegment(I, blocks, base + 4L * PL * (f >> 2), LE);
            ((FloatVector) v.lanewise(LSHL, 24 - 8 * (f & 3)).lanewise(ASHR, 24).convert(I2F, 0))
                    .intoArray(dst, off + t * PL);
        }
    }

    /** Row {@code r}'s block {@code b} scale. */
    float scale(int r, int b) {
        return blocks.get(F32, ((long) (r / 4) * nb + b) * GB + 4L * (r % 4));
    }
}
