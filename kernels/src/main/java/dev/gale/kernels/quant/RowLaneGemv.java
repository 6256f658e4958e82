package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * A weight matrix in the row-lane layout ({@link RowLaneKernel}: groups of {@link #R} rows, one row per 16-bit lane)
 * multiplied by activations quantized to Q8 per block of 32, as llama.cpp quantizes them: the decode GEMV of
 * {@link Q4_0Lanes} and {@link Q8_0Lanes}, which differ only in how a group-block's bytes hold the weights and so in
 * the four-group kernel they run ({@link #kernel4}) and its scalar twin ({@link #rowScalar}). This class owns what
 * they share: the quantization of F32 activations into a per-thread {@link Operand} and the entry points over it.
 *
 * <p>The split over threads and calls, four row groups per pass, is {@link RowLaneSchedule}'s, shared with
 * {@link W4Packed}.
 *
 * <p>Row-range entry points run on the calling thread and allocate nothing once the calling thread's operand has
 * grown to the call's size; the {@code Parallel} ones quantize on the calling thread, then split whole groups over
 * {@link WorkerPool#shared()}. Immutable after packing; safe to share between threads.
 */
abstract sealed class RowLaneGemv extends RowLaneSchedule<RowLaneGemv.Operand> permits Q4_0Lanes, Q8_0Lanes {
    /** Half the vector width in shorts: the quantizer's {@link QuantVectors#L} codes. */
    private static final VectorSpecies<Short> SH = QuantVectors.VECTOR_OK
            ? VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2)) : ShortVector.SPECIES_64;
    /** A quarter of the vector width in bytes: the codes of {@link QuantVectors#L} rows, one panel column. */
    static final VectorSpecies<Byte> BQ = QuantVectors.VECTOR_OK
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 4)) : ByteVector.SPECIES_64;
    private static final float Q8_MAGIC = Q8Activations.MAGIC;
    private static final float Q8_TINY = Q8Activations.TINY;
    /** Per calling thread: the quantized activations ({@link Operand}). */
    private static final ThreadLocal<Operand> OPERAND = ThreadLocal.withInitial(Operand::new);

    private final String name;
    /** What the argument checks name, built once: a concatenation per call would allocate on the hot path. */
    private final String tokensWhat;
    private final String activationsWhat;
    private final String outputWhat;

    RowLaneGemv(String name, int rows, int in, long gb, MemorySegment blocks) {
        super(rows, in, in / QK, gb, blocks);
        this.name = name;
        this.tokensWhat = name + " matmul tokens";
        this.activationsWhat = name + " matmul activations";
        this.outputWhat = name + " matmul output";
    }

    /** Row {@code r} dequantized to F32 {@code d·q} at {@code dst + dstOff}, as the format's own dequantize gives it. */
    public abstract void dequantizeRow(int r, MemorySegment dst, long dstOff);

    /** Writes row {@code r} back in llama.cpp's block format (the fp16 scale is the original, exactly). */
    public abstract void exportRow(int r, MemorySegment dst, long dstOff);

    /**
     * Whether rows {@code [row0, row0 + n)} are one vector of lanes inside one group, so a panel column of them is one
     * load ({@link dev.gale.kernels.gemm.BlockScaledCodec#decodeColumns}).
     */
    final boolean columnsInOneLoad(int row0, int n) {
        return QuantVectors.VECTOR_OK && n == L && row0 % L == 0 && row0 + L <= rows;
    }

    /**
     * The decode path: F32 {@code X[tokens][in]} quantized to Q8 per block of 32 exactly as {@link Q8Activations}
     * quantizes (same codes, scales and sums), then {@code Y[t][r] = X_q[t]·W[r]} over the shared worker pool; the
     * same bits as {@link Q8Activations#quantize} then {@link #matmul}.
     */
    public void matmulQ8Parallel(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        parallel(quantized(x, xOff, tokens, y, yOff), tokens, y, yOff);
    }

    /** {@code Y[t][r]} for all rows and {@code x.tokens()} tokens, groups over the shared worker pool. */
    public void matmulParallel(Q8Activations x, MemorySegment y, long yOff) {
        check(x, y, yOff);
        parallel(operand(x), x.tokens(), y, yOff);
    }

    /**
     * Rows {@code [rowStart, rowEnd)} of the decode path on the calling thread: the same quantization and bits as
     * {@link #matmulQ8Parallel}; allocates nothing once this thread's operand has grown to the call's size.
     */
    public void matmulQ8(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff, int rowStart,
            int rowEnd) {
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        range(quantized(x, xOff, tokens, y, yOff), tokens, y, yOff, rowStart, rowEnd);
    }

    /**
     * Rows {@code [rowStart, rowEnd)} of {@code Y[t] = X_q[t]·Wᵀ} on the calling thread; allocates nothing once this
     * thread's operand has grown to the call's size.
     */
    public void matmul(Q8Activations x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        check(x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, rows);
        range(operand(x), x.tokens(), y, yOff, rowStart, rowEnd);
    }

    /**
     * F32 activations checked and quantized into this thread's operand: with vectors by {@link #quantize}, else
     * through {@link Q8Activations} (the same codes).
     */
    private Operand quantized(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        QuantVectors.requirePositive(tokens, tokensWhat);
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, activationsWhat);
        QuantVectors.requireBytes(y, yOff, 4L * rows * tokens, outputWhat);
        if (QuantVectors.VECTOR_OK) {
            return quantize(x, xOff, tokens);
        }
        Q8Activations a = new Q8Activations(Arena.ofAuto().allocate(Q8Activations.scratchBytes(tokens, in), 64), 0,
                tokens, in);
        a.quantize(x, xOff, tokens);
        return operand(a);
    }

    private void check(Q8Activations x, MemorySegment y, long yOff) {
        if (x.in() != in) {
            throw new ShapeMismatchException(name + " matmul: weights have " + in + " columns but the activations "
                    + x.in());
        }
        QuantVectors.requireBytes(y, yOff, 4L * rows * x.tokens(), outputWhat);
    }

    /**
     * The kernels' operand, per calling thread: the Q8 codes as shorts (a kernel broadcasts one per element), and per
     * token and block {@code d_x} and {@code −8·Σx_q} (Q4_0's zero point). Java arrays: their accesses inline to fewer
     * C2 nodes than a segment's.
     */
    static final class Operand {
        short[] codes = new short[0];
        float[] scales = new float[0];
        int[] zeros = new int[0];
        /**
         * Per token and block: {@code 15·Σ|x_q| ≤ 32767}, so a 4-bit block's products sum in one 16-bit accumulator
         * ({@link RowLaneKernel#group4}'s {@code wholeBlocks}); true for most blocks of real activations, whose codes
         * average well under the ±68 that would break it.
         */
        boolean[] fits = new boolean[0];

        Operand ensure(int tokens, int in) {
            int n = tokens * in;
            if (codes.length < n) {
                int grown = Math.max(n, 2 * codes.length);
                codes = new short[grown];
                scales = new float[grown / QK];
                zeros = new int[grown / QK];
                fits = new boolean[grown / QK];
            }
            return this;
        }
    }

    /** Whether a block whose codes have absolute sum {@code abs} keeps 4-bit products within a 16-bit sum. */
    static boolean fitsSixteenBits(int abs) {
        return 15 * abs <= Short.MAX_VALUE;
    }

    /** {@code x}'s codes, scales and zero points in this thread's operand. */
    private Operand operand(Q8Activations x) {
        Operand op = OPERAND.get().ensure(x.tokens(), in);
        for (int t = 0; t < x.tokens(); t++) {
            for (int k = 0; k < in; k++) {
                op.codes[t * in + k] = x.q(t, k);
            }
            for (int b = 0; b < nb; b++) {
                op.scales[t * nb + b] = x.scale(t, b);
                op.zeros[t * nb + b] = -8 * x.sum(t, b);
                int abs = 0;
                for (int k = b * QK; k < (b + 1) * QK; k++) {
                    abs += Math.abs(op.codes[t * in + k]);
                }
                op.fits[t * nb + b] = fitsSixteenBits(abs);
            }
        }
        return op;
    }

    /**
     * F32 {@code x} quantized into this thread's operand: per block of 32, {@code d = amax/127}, codes
     * {@code rint(x·127/amax)} (ties to even), as {@link Q8Activations#quantize} computes them; a block with a NaN or
     * an infinity gets codes 0 and a NaN scale, so its outputs are NaN; a block below {@code 2^-120} gets zeros.
     */
    private Operand quantize(MemorySegment x, long xOff, int tokens) {
        Operand op = OPERAND.get().ensure(tokens, in);
        for (int t = 0; t < tokens; t++) {
            for (int b = 0; b < nb; b++) {
                long s = xOff + 4L * ((long) t * in + (long) b * QK);
                FloatVector m = FloatVector.fromMemorySegment(F, x, s, LE).abs();
                for (int i = L; i < QK; i += L) {
                    m = m.max(FloatVector.fromMemorySegment(F, x, s + 4L * i, LE).abs());
                }
                float amax = m.reduceLanes(VectorOperators.MAX);
                boolean finite = amax <= Float.MAX_VALUE;
                float id = finite && amax >= Q8_TINY ? 127f / amax : 0f;
                // Code sums and absolute sums kept in lanes, reduced once per block (integers: any order is exact).
                IntVector sum = IntVector.zero(I);
                IntVector abs = sum;
                for (int i = 0; i < QK; i += L) {
                    IntVector q = (IntVector) FloatVector.fromMemorySegment(F, x, s + 4L * i, LE).mul(id)
                            .add(Q8_MAGIC).sub(Q8_MAGIC).convertShape(VectorOperators.F2I, I, 0);
                    ((ShortVector) q.convertShape(VectorOperators.I2S, SH, 0)).intoArray(op.codes, t * in + b * QK + i);
                    sum = sum.add(q);
                    abs = abs.add(q.abs());
                }
                op.scales[t * nb + b] = finite ? (id != 0 ? amax / 127f : 0f) : Float.NaN;
                op.zeros[t * nb + b] = -8 * sum.reduceLanes(VectorOperators.ADD);
                op.fits[t * nb + b] = fitsSixteenBits(abs.reduceLanes(VectorOperators.ADD));
            }
        }
        return op;
    }
}
