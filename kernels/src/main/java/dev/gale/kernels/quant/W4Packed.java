package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.LE;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link W4Weights} with group size 128 repacked once at load into the W4Ax decode layout; <b>the class to use for
 * the W4A4/W4A8 decode GEMV</b>, as {@link Q4_0Packed} is for Q4_0. {@link W4Weights} stays the import format (GGUF),
 * the input of the references, of the device kernels and of the prefill GEMM; {@link W4AxMatmul}'s row-major GEMV
 * remains as the baseline.
 *
 * <p><b>Why.</b> The row-major GEMV reads four rows per pass from four streams {@code in/2} bytes apart (plus four
 * scale streams), and converts each byte to Q4_0's offset form with an XOR in the hot loop. Here a 4-row group's
 * bytes are one contiguous stream in the order the kernel consumes them, the XOR is applied once at load, and the
 * activation-side work is done once per token ({@link ActivationQuant#prepareGemvOperand()}).
 *
 * <p><b>Layout.</b> Rows are padded to a multiple of 4 ({@code groups = ⌈rows/4⌉}); padding rows have scale 0 and
 * code bytes {@code 0x88} (both nibbles zero). A 128-element block is four 32-element <i>sub-blocks</i> {@code k}:
 * elements {@code 16k .. 16k+15} (the low nibbles of {@link W4Weights}' bytes {@code 16k .. 16k+15}) and
 * {@code 64+16k .. 64+16k+15} (their high nibbles). For group {@code g} and block {@code b} ({@code nb = in/128}):
 * <pre>
 *   codes:  256 bytes at 256·(g·nb + b): sub-block k at +64·k, two row pairs (rows 0-1, then 2-3) of 32 bytes:
 *           [first row's bytes 0-7 | second row's bytes 0-7 | first row's bytes 8-15 | second row's bytes 8-15]
 *           of W4Weights' bytes 16k .. 16k+15 of that row and block, XOR 0x88 (each two's-complement nibble q
 *           becomes q + 8 in 0..15)
 *   scales: 4 F32 at 16·(g·nb + b): the block's weight scale of rows 4g .. 4g+3; 16 bytes of padding at the end
 * </pre>
 *
 * <p><b>Kernel</b> ({@link #group4}): 16-bit integer lanes, two rows per vector. One 16-byte load holds the same 8
 * columns of a row pair; widened to 16 lanes, masked and shifted, it meets activation codes widened once per token,
 * and the products add up in 16-bit lanes over the whole 128-element block (exact: at most 16·15·127 per lane), so a
 * block pays one widening to 32 bits, one conversion and one scale FMA per row pair, against two conversions and two
 * FMAs per 8 codes in the F32 form this replaced. The zero point ({@code u = q + 8}) is {@code −8·s_w·s_x·Σq_x} per
 * block. Measured on Zen 3 (AVX2), one thread, 1024×4096 from L3 with the quantization: 0.28–0.29 ms against
 * 0.39–0.41 ms for the F32 form (the Q4_0 16-bit kernel on the same rows: 0.28–0.30 ms), and it reads 64 bytes per 128
 * weights and 4 rows where Q4_0 reads 80.
 *
 * <p>Exactness: each block sum is an exact integer; the error is that of the conversions' scale FMAs, the zero-point
 * term and the final sums, within {@code Numerics.dotBound(Σ|s_x q_x · s_w q_w|, in)} of {@link W4AxMatmul#reference}
 * (tested, with the block sums at their largest).
 *
 * <p>One token per call (decode; more tokens go to the GEMM). The row-range entry point runs on the calling thread
 * and allocates nothing; {@link #gemvParallel} splits 4-row groups over {@link WorkerPool#shared()}. Where the
 * preferred vector shape is not 256 or 512 bits the entry points run a scalar loop over the packed layout (the
 * reference's exact group sums). Immutable after {@link #pack}; safe to share between threads.
 */
public final class W4Packed {
    /** Code bytes of one group-block (4 rows × 64). */
    static final int GQ = 256;
    /** Bytes of one group-block of scales (4 rows × F32). */
    static final int GS = 16;
    /** Code bytes per row and sub-block (32 elements: 16 low nibbles, 16 high). */
    static final int SUB_BYTES = 16;
    /** Shorts per sub-block in {@link ActivationQuant#gemvCodes()}: 4 vectors of 16. */
    static final int WIDE = 64;
    /** Distance in a sub-block from a row's bytes 0-7 to its bytes 8-15 (Q4_0's row-pair interleave). */
    private static final int HALF = Q4_0Packed.HALF;
    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I8 = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    private static final ShortVector NIBBLE = ShortVector.broadcast(S256, (short) 15);
    /** Row 0's scale in lanes 0-3 and row 1's in lanes 4-7 (pair 0-1), the same for rows 2 and 3 (pair 2-3). */
    private static final VectorShuffle<Float> PAIR01 = VectorShuffle.fromValues(F8, 0, 0, 0, 0, 1, 1, 1, 1);
    private static final VectorShuffle<Float> PAIR23 = VectorShuffle.fromValues(F8, 2, 2, 2, 2, 3, 3, 3, 3);
    /** Per thread running the kernel: where the row pairs' 16-bit sums are stored as shorts and read back as ints. */
    private static final ThreadLocal<MemorySegment> PAIR_SUMS = ThreadLocal.withInitial(
            () -> Arena.global().allocate(64, 64));

    /** The sum of the 4 floats at {@code at} (a row's lanes, after the pair accumulators are stored). */
    private static float quarter(MemorySegment m, long at) {
        return m.get(F32, at) + m.get(F32, at + 4) + m.get(F32, at + 8) + m.get(F32, at + 12);
    }

    /** Offset in a sub-block of row {@code rr}'s (0..3) bytes 0-7, as in a Q4_0 group-block. */
    private static int rowInSub(int rr) {
        return Q4_0Packed.rowInBlock(rr);
    }

    /** Offset in a sub-block of byte {@code j} (0..15) of row {@code rr}. */
    static int byteInSub(int rr, int j) {
        return rowInSub(rr) + (j < 8 ? j : j - 8 + HALF);
    }

    private final int rows;
    private final int in;
    private final int nb;
    private final int groups;
    private final MemorySegment codes;
    private final MemorySegment scales;

    private W4Packed(int rows, int in, MemorySegment codes, MemorySegment scales) {
        this.rows = rows;
        this.in = in;
        this.nb = in / W4Weights.BLOCK;
        this.groups = (rows + 3) / 4;
        this.codes = codes;
        this.scales = scales;
    }

    /** Whether {@code w} has a packed decode form (group size 128: one weight scale per row and block). */
    public static boolean supports(W4Weights w) {
        return w.group() == W4Weights.BLOCK;
    }

    /** Repacks {@code w} (group size 128) into segments from {@code allocator} (their lifetime is the allocator's). */
    public static W4Packed pack(W4Weights w, SegmentAllocator allocator) {
        if (!supports(w)) {
            throw new ShapeMismatchException("W4 packed decode layout needs group size " + W4Weights.BLOCK + ", not "
                    + w.group());
        }
        int rows = w.rows();
        int in = w.in();
        int nb = in / W4Weights.BLOCK;
        int groups = (rows + 3) / 4;
        long rowBytes = in / 2;
        MemorySegment src = w.codes();
        MemorySegment srcScales = w.scales();
        MemorySegment q = allocator.allocate((long) groups * nb * GQ, 64);
        // 16 bytes past the last block: the kernel loads 8 scales, a block's 4 and the next block's
        MemorySegment s = allocator.allocate((long) groups * nb * GS + GS, 64);
        byte[] piece = new byte[SUB_BYTES];
        for (int g = 0; g < groups; g++) {
            for (int b = 0; b < nb; b++) {
                long gb = (long) g * nb + b;
                for (int rr = 0; rr < 4; rr++) {
                    int r = 4 * g + rr;
                    boolean real = r < rows;
                    s.set(F32, gb * GS + 4L * rr, real ? srcScales.get(F32, 4L * ((long) r * nb + b)) : 0f);
                    for (int k = 0; k < 4; k++) {
                        if (real) {
                            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, r * rowBytes + (long) b * W4Weights.BLOCK_BYTES
                                    + (long) SUB_BYTES * k, piece, 0, SUB_BYTES);
                            for (int i = 0; i < SUB_BYTES; i++) {
                                piece[i] ^= (byte) 0x88;
                            }
                        } else {
                            java.util.Arrays.fill(piece, (byte) 0x88);
                        }
                        long o = gb * GQ + 64L * k + rowInSub(rr);
                        MemorySegment.copy(piece, 0, q, ValueLayout.JAVA_BYTE, o, SUB_BYTES / 2);
                        MemorySegment.copy(piece, SUB_BYTES / 2, q, ValueLayout.JAVA_BYTE, o + HALF, SUB_BYTES / 2);
                    }
                }
            }
        }
        return new W4Packed(rows, in, q, s);
    }

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    /** Bytes the kernel streams per GEMV (codes and scales, padding included). */
    public long byteSize() {
        return codes.byteSize() + scales.byteSize();
    }

    /** The signed code of row {@code r}, element {@code c}, read back from the packed layout (tests). */
    public int code(int r, int c) {
        QuantVectors.requireRange(r, r + 1, rows);
        int b = c / W4Weights.BLOCK;
        int e = c % W4Weights.BLOCK;
        int j = e % 64;
        int u = codes.get(ValueLayout.JAVA_BYTE, ((long) (r / 4) * nb + b) * GQ + 64L * (j / SUB_BYTES)
                + byteInSub(r % 4, j % SUB_BYTES)) & 0xff;
        return (e < 64 ? u & 0xf : u >>> 4) - 8;
    }

    /** The weight scale of row {@code r}, block {@code b} (tests). */
    public float scale(int r, int b) {
        QuantVectors.requireRange(r, r + 1, rows);
        return scales.get(F32, ((long) (r / 4) * nb + b) * GS + 4L * (r % 4));
    }

    /** {@code y[r] = x[0]·W[r]} for every row, 4-row groups split over the shared worker pool. */
    public void gemvParallel(ActivationQuant x, MemorySegment y, long yOff) {
        check(x, y, yOff);
        if (QuantVectors.VECTOR_OK) {
            x.prepareGemvOperand();
        }
        WorkerPool.shared().parallelFor(groups, Q4_0Matmul.grain(in, 1),
                (s, e) -> groups(x, QuantVectors.VECTOR_OK, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} of the one-token product on the calling thread; allocates nothing. */
    public void gemv(ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        check(x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        if (QuantVectors.VECTOR_OK) {
            x.prepareGemvOperand();
        }
        groups(x, QuantVectors.VECTOR_OK, y, yOff, rowStart, rowEnd);
    }

    private void groups(ActivationQuant x, boolean vector, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        MemorySegment pairSums = vector ? PAIR_SUMS.get() : null;
        for (int g = rowStart / 4; 4 * g < rowEnd; g++) {
            int k0 = Math.max(rowStart, 4 * g) - 4 * g;
            int k1 = Math.min(rowEnd, 4 * g + 4) - 4 * g;
            long yo = yOff + 16L * g;
            if (vector) {
                group4(codes, (long) g * nb * GQ, scales, (long) g * nb * GS, nb, x.gemvCodes(), x.gemvBlockTerms(),
                        pairSums, y, yo, k0, k1);
            } else {
                groupScalar(g, x, y, yo, k0, k1);
            }
        }
    }

    /**
     * One 4-row group · token 0, in 16-bit integer lanes; writes rows {@code [k0, k1)} of the group at
     * {@code yo + 4k}. Per sub-block and row pair: 2 loads of 16 code bytes (8 columns of both rows each), widened to
     * 16 lanes, masked and shifted, 4 multiplies of 16 lanes against the widened activation codes
     * ({@link ActivationQuant#gemvCodes()}), added into the pair's block sums. A lane sums 16 products of an unsigned
     * code {@code q_w + 8 ≤ 15} and an activation code {@code |q_x| ≤ 127} over the block's 4 sub-blocks, at most
     * 16·15·127 = 30480 &lt; 2^15, so the block sums are exact and a block pays one widening per row pair: the pair's
     * 16 sums are stored as shorts and loaded back as 8 ints, each holding two neighbouring sums of one row, so
     * {@code (i >> 16) + (i << 16 >> 16)} leaves row 0's block sum in lanes 0-3 and row 1's in lanes 4-7, one
     * conversion and one FMA with {@code s_w·s_x} spread over those lanes. The zero point is {@code −8·s_w·s_x·Σq_x} per block, from the operand's block terms. Written inline
     * with no vector-valued helpers: a helper C2 leaves out of line boxes every vector.
     *
     * <p>Through memory, not {@code reinterpretAsInts}: before C2 compiles a reinterpreting cast, the Vector API runs
     * it through a heap segment, which then stays in the JDK's shared segment-access profiles, so C2 compiles the
     * segment loads of every kernel in the JVM for two segment classes (a decode measured 2× slower). A 256-bit store
     * then a 256-bit load of the same bytes forwards in the store queue. Measured alternatives, one thread, 1024×4096,
     * against 0.32 ms for the F32 kernel: this form 0.28–0.29 ms (measured for the 4-row Q4_0 kernel this one was built from); rows 8-15 widened by a 128-bit load each (16→32-bit conversion of a 256-bit vector's
     * upper half is not vector code on AVX2) 0.36 ms as two 2-row passes (the 4-row form ran past C2's inlining node
     * budget, boxing vectors) and 0.41 ms as one pass. The scale load reads 8 floats, this block's 4 and the next
     * block's, which the pack pads for the last block.
     */
    private static void group4(MemorySegment q, long q0, MemorySegment s, long s0, int nb, short[] x,
            float[] blockTerms, MemorySegment pairSums, MemorySegment y, long yo, int k0, int k1) {
        FloatVector acc01 = FloatVector.zero(F8);
        FloatVector acc23 = acc01;
        FloatVector corr = acc01;
        for (int b = 0; b < nb; b++) {
            ShortVector p01 = ShortVector.zero(S256);
            ShortVector p23 = p01;
            for (int k = 0; k < 4; k++) {
                int xo = (4 * b + k) * WIDE;
                long qb = q0 + (long) GQ * b + 64L * k;
                ShortVector xl0 = ShortVector.fromArray(S256, x, xo);
                ShortVector xh0 = ShortVector.fromArray(S256, x, xo + 16);
                ShortVector xl1 = ShortVector.fromArray(S256, x, xo + 32);
                ShortVector xh1 = ShortVector.fromArray(S256, x, xo + 48);
                ShortVector v0 = (ShortVector) ByteVector.fromMemorySegment(B128, q, qb, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2S, S256, 0);
                ShortVector v1 = (ShortVector) ByteVector.fromMemorySegment(B128, q, qb + HALF, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2S, S256, 0);
                p01 = p01.add(v0.and(NIBBLE).mul(xl0)).add(v0.lanewise(VectorOperators.LSHR, 4).mul(xh0))
                        .add(v1.and(NIBBLE).mul(xl1)).add(v1.lanewise(VectorOperators.LSHR, 4).mul(xh1));
                ShortVector u0 = (ShortVector) ByteVector.fromMemorySegment(B128, q, qb + 32, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2S, S256, 0);
                ShortVector u1 = (ShortVector) ByteVector.fromMemorySegment(B128, q, qb + 32 + HALF, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2S, S256, 0);
                p23 = p23.add(u0.and(NIBBLE).mul(xl0)).add(u0.lanewise(VectorOperators.LSHR, 4).mul(xh0))
                        .add(u1.and(NIBBLE).mul(xl1)).add(u1.lanewise(VectorOperators.LSHR, 4).mul(xh1));
            }
            p01.intoMemorySegment(pairSums, 0, LE);
            p23.intoMemorySegment(pairSums, 32, LE);
            FloatVector sw = FloatVector.fromMemorySegment(F8, s, s0 + (long) GS * b, LE);
            FloatVector d = sw.lanewise(VectorOperators.MUL, blockTerms[2 * b]);
            corr = sw.lanewise(VectorOperators.FMA, FloatVector.broadcast(F8, blockTerms[2 * b + 1]), corr);
            IntVector i01 = IntVector.fromMemorySegment(I8, pairSums, 0, LE);
            IntVector i23 = IntVector.fromMemorySegment(I8, pairSums, 32, LE);
            acc01 = ((FloatVector) i01.lanewise(VectorOperators.ASHR, 16)
                    .add(i01.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16))
                    .convertShape(VectorOperators.I2F, F8, 0))
                    .lanewise(VectorOperators.FMA, d.rearrange(PAIR01), acc01);
            acc23 = ((FloatVector) i23.lanewise(VectorOperators.ASHR, 16)
                    .add(i23.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16))
                    .convertShape(VectorOperators.I2F, F8, 0))
                    .lanewise(VectorOperators.FMA, d.rearrange(PAIR23), acc23);
        }
        acc01.intoMemorySegment(pairSums, 0, LE);
        acc23.intoMemorySegment(pairSums, 32, LE);
        Q4_0Packed.store4(y, yo, k0, k1, quarter(pairSums, 0) - 8 * corr.lane(0),
                quarter(pairSums, 16) - 8 * corr.lane(1),
                quarter(pairSums, 32) - 8 * corr.lane(2),
                quarter(pairSums, 48) - 8 * corr.lane(3));
    }

    /**
     * The scalar path over the packed layout (hardware without 256/512-bit vectors): exact integer sums per block,
     * scaled in double, as {@link W4AxMatmul#reference}.
     */
    private void groupScalar(int g, ActivationQuant x, MemorySegment y, long yo, int k0, int k1) {
        for (int k = k0; k < k1; k++) {
            double sum = 0;
            for (int b = 0; b < nb; b++) {
                long gb = (long) g * nb + b;
                int isum = 0;
                for (int sub = 0; sub < 4; sub++) {
                    for (int j = 0; j < SUB_BYTES; j++) {
                        int u = codes.get(ValueLayout.JAVA_BYTE, gb * GQ + 64L * sub + byteInSub(k, j)) & 0xff;
                        int c = W4Weights.BLOCK * b + SUB_BYTES * sub + j;
                        isum += ((u & 0xf) - 8) * x.code(0, c) + ((u >>> 4) - 8) * x.code(0, c + 64);
                    }
                }
                sum += (double) x.scale(0, b) * scales.get(F32, gb * GS + 4L * k) * isum;
            }
            y.set(F32, yo + 4L * k, (float) sum);
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
