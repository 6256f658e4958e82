package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.B;
import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
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
 * activation-side work the row-major kernel repeats per 4 rows ({@code x_h − 16·x_l}) is done once per token
 * ({@link ActivationQuant#gemvOperand()}).
 *
 * <p><b>Layout.</b> Rows are padded to a multiple of 4 ({@code groups = ⌈rows/4⌉}); padding rows have scale 0 and
 * code bytes {@code 0x88} (both nibbles zero). A 128-element block is four 32-element <i>sub-blocks</i> {@code k}:
 * elements {@code 16k .. 16k+15} (the low nibbles of {@link W4Weights}' bytes {@code 16k .. 16k+15}) and
 * {@code 64+16k .. 64+16k+15} (their high nibbles). For group {@code g} and block {@code b} ({@code nb = in/128}):
 * <pre>
 *   codes:  256 bytes at 256·(g·nb + b): sub-block k, row r (0..3) at +64·k + 16·r: W4Weights' bytes
 *           16k .. 16k+15 of that row and block, XOR 0x88 (each two's-complement nibble q becomes q + 8 in 0..15)
 *   scales: 4 F32 at 16·(g·nb + b): the block's weight scale of rows 4g .. 4g+3
 * </pre>
 *
 * <p><b>Kernel</b> ({@code group4}). With {@code u = (lo + 8) + 16·(hi + 8)} the zero-extended byte,
 * {@code u·x_l + (u >>> 4)·(x_h − 16·x_l) = (lo + 8)·x_l + (hi + 8)·x_h}: per code vector and row one zero-extending
 * load, one shift, two conversions and two FMAs, no mask and no XOR; each activation load (two per {@code L} code
 * bytes: {@code x_l} and {@code x_d = x_h − 16·x_l}, precomputed) feeds four rows. Each row's sub-block sum starts
 * from the zero-point lanes {@code −8·Σ(x_l + x_h)} (also precomputed, once per token, in
 * {@link ActivationQuant#gemvOperand()}) and is scaled into the row's accumulator with one FMA by {@code s_w·s_x}; the
 * four rows' products come from one 128-bit multiply of the group's four weight scales by the block's activation
 * scale (four copies in the operand). So a row's dependency chain is 4 FMAs long (AVX2), the next sub-block's chains
 * start out of order, and the four accumulators plus the four sub-block sums are the 8 live accumulators.
 *
 * <p>Why the zero point and the scales are formed outside the kernel: C2's final compile of this method must stay
 * well under its inlining node budget ({@code NodeCountInliningCutoff}, a develop flag a product JVM cannot raise),
 * as {@link Q4_0Packed}'s class comment explains. With the zero point formed in the loop (two additions, a multiply
 * and an FMA per sub-block) and five scalar {@code MemorySegment.get} calls per sub-block for the scales, the
 * compile sat at the budget: in the bench report's JVM the scale loads stayed virtual calls behind a type check and
 * the unrolled loop spilled its accumulators (36 KB of code, against 10 KB in a JVM that ran only this kernel), and
 * the kernel ran at 0.46–0.53x Q4_0's speed in the interleaved table (2 threads, two runs). With both moved out it
 * runs at 0.69–0.79x there (two runs, same JVM, interleaved with the old jar's runs). Blocks outside and their
 * four sub-blocks inside, to load the scales once per block, measured 0.51–0.58x: C2 spilled an accumulator there.
 * An earlier note, from before either kernel was slimmed: a variant that read the zero-point lanes as a third
 * activation stream (160 bytes per sub-block, summed in the loop) cost 5–10 % on one thread alone and ran at
 * 0.46–0.72x in the report's JVM, then unexplained; the node budget is the likely reason.
 * The operations are those of {@link W4AxMatmul}'s row-major {@code gemv4}, and where the order differs (the zero
 * point, the scale product's operand order) the results are exact integers or the same correctly rounded product,
 * so the results are bit-identical to it (tested).
 *
 * <p>Exactness: with {@code |q_x| ≤ 127}, every lane's sub-block partial sum is an integer below
 * {@code 2·15·127 + 8·4·127 < 2^13}, exact in F32; the error is that of the scale FMAs and the final sums, within
 * {@code Numerics.dotBound(Σ|s_x q_x · s_w q_w|, in)} of {@link W4AxMatmul#reference}.
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
    /** Floats per sub-block in {@link ActivationQuant#gemvOperand()}: 16 x_l, then 16 x_d. */
    static final int OPERAND_FLOATS = 2 * SUB_BYTES;
    private static final IntVector C4 = IntVector.broadcast(I, 4);
    /** One 4-row group's block scales. */
    private static final VectorSpecies<Float> F4 = FloatVector.SPECIES_128;

    /**
     * Where {@link ActivationQuant#gemvOperand()} keeps the zero-point lanes, after the {@code 4·nb} sub-blocks of
     * {@link #OPERAND_FLOATS}: {@code L} floats per sub-block.
     */
    static long zeroPointOffset(int nb) {
        return 4L * OPERAND_FLOATS * 4 * nb;
    }

    /**
     * Where {@link ActivationQuant#gemvOperand()} keeps each block's activation scale, four copies (16 bytes) per
     * block, after the zero-point lanes (room for 16 lanes, the widest shape).
     */
    static long scaleOffset(int nb) {
        return zeroPointOffset(nb) + 4L * 16 * 4 * nb;
    }

    /** Bytes of {@link ActivationQuant#gemvOperand()} for {@code nb} blocks. */
    static long operandBytes(int nb) {
        return scaleOffset(nb) + 16L * nb;
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
        MemorySegment s = allocator.allocate((long) groups * nb * GS, 64);
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
                        MemorySegment.copy(piece, 0, q, ValueLayout.JAVA_BYTE, gb * GQ + 64L * k + 16L * rr, SUB_BYTES);
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
                + 16L * (r % 4) + j % SUB_BYTES) & 0xff;
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
        MemorySegment operand = QuantVectors.VECTOR_OK ? x.gemvOperand() : null;
        WorkerPool.shared().parallelFor(groups, Q4_0Matmul.grain(in, 1),
                (s, e) -> groups(x, operand, y, yOff, 4 * s, Math.min(rows, 4 * e)));
    }

    /** Rows {@code [rowStart, rowEnd)} of the one-token product on the calling thread; allocates nothing. */
    public void gemv(ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        check(x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        groups(x, QuantVectors.VECTOR_OK ? x.gemvOperand() : null, y, yOff, rowStart, rowEnd);
    }

    private void groups(ActivationQuant x, MemorySegment operand, MemorySegment y, long yOff, int rowStart,
            int rowEnd) {
        for (int g = rowStart / 4; 4 * g < rowEnd; g++) {
            int k0 = Math.max(rowStart, 4 * g) - 4 * g;
            int k1 = Math.min(rowEnd, 4 * g + 4) - 4 * g;
            long yo = yOff + 16L * g;
            if (operand != null) {
                group4(codes, (long) g * nb * GQ, scales, (long) g * nb * GS, nb, operand, y, yo, k0, k1);
            } else {
                groupScalar(g, x, y, yo, k0, k1);
            }
        }
    }

    /**
     * One 4-row group · token 0; writes rows {@code [k0, k1)} of the group at {@code yo + 4k}. Written inline with
     * no vector-valued helpers: a helper C2 leaves out of line boxes every vector.
     */
    private static void group4(MemorySegment q, long q0, MemorySegment s, long s0, int nb, MemorySegment a,
            MemorySegment y, long yo, int k0, int k1) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        long zp = zeroPointOffset(nb);
        long sx0 = scaleOffset(nb);
        for (int sub = 0; sub < 4 * nb; sub++) {
            int b = sub >>> 2;
            long qb = q0 + 64L * sub;
            long ab = 4L * OPERAND_FLOATS * sub;
            // The sums start from the zero-point lanes: all terms are integers below 2^13, so the order of the
            // additions does not change a bit.
            FloatVector p0 = FloatVector.fromMemorySegment(F, a, zp + 4L * L * sub, LE);
            FloatVector p1 = p0;
            FloatVector p2 = p0;
            FloatVector p3 = p0;
            for (int j = 0; j < SUB_BYTES; j += L) {
                FloatVector xl = FloatVector.fromMemorySegment(F, a, ab + 4L * j, LE);
                FloatVector xd = FloatVector.fromMemorySegment(F, a, ab + 4L * (SUB_BYTES + j), LE);
                IntVector n0 = (IntVector) ByteVector.fromMemorySegment(B, q, qb + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p0 = ((FloatVector) n0.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p0);
                IntVector n1 = (IntVector) ByteVector.fromMemorySegment(B, q, qb + 16 + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p1 = ((FloatVector) n1.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p1);
                p1 = ((FloatVector) n1.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p1);
                IntVector n2 = (IntVector) ByteVector.fromMemorySegment(B, q, qb + 32 + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p2 = ((FloatVector) n2.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p2);
                p2 = ((FloatVector) n2.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p2);
                IntVector n3 = (IntVector) ByteVector.fromMemorySegment(B, q, qb + 48 + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p3 = ((FloatVector) n3.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p3);
                p3 = ((FloatVector) n3.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p3);
            }
            // The four rows' s_w times s_x in one 128-bit multiply (the products the scalar form gives): scalar
            // MemorySegment.get calls here were left as calls behind a type check in some JVMs, which spilled
            // every accumulator around them.
            FloatVector c = FloatVector.fromMemorySegment(F4, s, s0 + (long) GS * b, LE)
                    .mul(FloatVector.fromMemorySegment(F4, a, sx0 + 16L * b, LE));
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, c.lane(0)), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, c.lane(1)), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, c.lane(2)), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, c.lane(3)), acc3);
        }
        Q4_0Packed.store4(y, yo, k0, k1, acc0.reduceLanes(VectorOperators.ADD), acc1.reduceLanes(VectorOperators.ADD),
                acc2.reduceLanes(VectorOperators.ADD), acc3.reduceLanes(VectorOperators.ADD));
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
                        int u = codes.get(ValueLayout.JAVA_BYTE, gb * GQ + 64L * sub + 16L * k + j) & 0xff;
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
