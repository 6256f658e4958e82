package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;

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
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q4_0 weights repacked once at load into <b>row lanes</b>, for decode on Q8 activations (the Q4_0 decode path where
 * vectors are 512 bits wide, {@link QuantMatMulOp#q4_0(MemorySegment, long, int, int, SegmentAllocator)});
 * {@link Q4_0Packed} is the layout of the F32-activation kernel.
 *
 * <p><b>Layout.</b> Rows go in groups of {@link #R}, the 16-bit lanes of one vector (32 at 512 bits, 16 at 256);
 * the last group is padded with rows of scale 0 and nibbles 8, which are exactly zero. Group {@code g}, block
 * {@code b} ({@code nb = in/32}) is one contiguous group-block of {@code 20·R} bytes at {@code 20·R·(g·nb + b)}:
 * <pre>
 *   +0      R F32: d of rows gR .. gR+R−1 (the fp16 scale widened once, exactly)
 *   +4R     16 chunks of R bytes: chunk j holds byte j of every row's block, row r at byte r (ggml's nibble order:
 *           element j in the low nibble, element j + 16 in the high one, unsigned 0..15)
 * </pre>
 * A group's blocks follow each other, so a thread reads one sequential stream per range of groups.
 *
 * <p><b>Kernel.</b> The lanes are rows, so nothing is reduced across lanes: chunk j widens to R 16-bit lanes, and
 * its low and high nibbles multiply the broadcast Q8 codes of elements j and j + 16 into two 16-bit accumulators.
 * Each accumulator adds 16 products of an unsigned nibble and a code, at most 16·15·127 = 30480 in magnitude, so
 * nothing overflows and the block sums are exact. Per block the two accumulators widen to 32-bit lanes (two halves
 * of R/2 rows), add {@code −8·Σx_q} (the zero point, from the activations' block sum) and convert once; the rows' F32
 * sums take {@code fma(Σ(nib − 8)·x_q, d_w·d_x, sum)}, as the scalar path computes it, so both give the same bits.
 * Per 64 weights that is one widening, a mask, a shift, two multiplies and two adds; the 4-row layout's kernel pays
 * about three times as many operations for its horizontal pair sums (measured: one thread, thread CPU time,
 * 8192×2048 from DRAM, 6.0–6.8 against 3.6–4.1 GB/s; at 256 bits the two tie, which is why F32 activations keep
 * {@link Q4_0Packed} there).
 *
 * <p>The kernel is written in the plainest form that compiled without boxing in every JVM tried. A variant that
 * routed each value through a constant receiver ({@code ZERO.or(v)}, {@code x.add(acc)}) and took the block sums
 * through memory made C2 box about 40 vectors per block ({@code QuantAllocationTest}, alone or after the other
 * kernels); a hand-unrolled block boxed every vector.
 *
 * <p>Row-range entry points run on the calling thread and allocate nothing once the calling thread's operand has
 * grown to the call's size; {@link #matmulQ8Parallel} quantizes on the calling thread, then splits groups over
 * {@link WorkerPool#shared()}. For one token each thread runs its whole groups four at a time, group i of its range
 * beside groups q + i, 2q + i and 3q + i ({@link RowLaneKernel#group4}), so the weights arrive as four memory
 * streams: one stream per thread read at about half the speed of the read probe's loop, two streams took the 1B
 * decode table's Q4_0 from 12.97 to 14.92 tok/s, and four took {@code DecodeGemvSweep}'s step from 0.54–0.57 to 0.67
 * of the probe loop's time (2026-11-28, jars alternated). Immutable after {@link #pack}; safe to share between threads.
 */
public final class Q4_0Lanes {
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, F.vectorShape());
    /** Half the vector width in bytes: one chunk, widened to {@link #S}. */
    private static final VectorSpecies<Byte> BH = QuantVectors.VECTOR_OK
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 2)) : ByteVector.SPECIES_64;
    /** Half the vector width in shorts: the quantizer's {@link #L} codes. */
    private static final VectorSpecies<Short> SH = QuantVectors.VECTOR_OK
            ? VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2)) : ShortVector.SPECIES_64;
    /** Rows per group: the 16-bit lanes of a vector ({@link RowLaneKernel#R}). */
    static final int R = RowLaneKernel.R;
    /** Bytes of a group-block's scales, where its quants start. */
    private static final int QOFF = RowLaneKernel.QOFF;
    /** Bytes of one group-block. */
    static final int GB = (int) RowLaneKernel.groupBlockBytes(QK / 2);
    private static final ShortVector NIBBLE = ShortVector.broadcast(S, (short) 15);
    private static final float Q8_MAGIC = Q8Activations.MAGIC;
    private static final float Q8_TINY = Q8Activations.TINY;
    /** Per calling thread: the quantized activations ({@link Operand}). */
    private static final ThreadLocal<Operand> OPERAND = ThreadLocal.withInitial(Operand::new);
    /** Per thread running the kernel: a group's outputs when only some of its rows are wanted. */
    private static final ThreadLocal<MemorySegment> PARTIAL = ThreadLocal.withInitial(
            () -> Arena.global().allocate(4L * R, 64));

    private final int rows;
    private final int in;
    private final int nb;
    private final int groups;
    private final MemorySegment blocks;

    private Q4_0Lanes(int rows, int in, MemorySegment blocks) {
        this.rows = rows;
        this.in = in;
        this.nb = in / QK;
        this.groups = (rows + R - 1) / R;
        this.blocks = blocks;
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
        MemorySegment p = RowLaneKernel.pack(rows, in / QK, QK / 2, (row, b, dst) -> {
            long o = wOff + row * rb + (long) b * Q4_0.BLOCK_BYTES;
            MemorySegment.copy(w, ValueLayout.JAVA_BYTE, o + 2, dst, 0, QK / 2);
            return QuantVectors.f16(w, o);
        }, allocator);
        return new Q4_0Lanes(rows, in, p);
    }

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    /** Bytes the kernel streams per GEMV (quants and scales, padding included). */
    public long byteSize() {
        return blocks.byteSize();
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

    // ------------------------------------------------------------------ GEMV

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
     * All rows over the shared worker pool. One token runs whole groups four at a time from the four quarters of
     * each thread's range ({@link #quads}), then the padded last group; more tokens run group by group.
     */
    private void parallel(Operand op, int tokens, MemorySegment y, long yOff) {
        int grain = Math.max(1, Q4_0Matmul.grain(in, tokens) * 4 / R);
        if (tokens == 1 && QuantVectors.VECTOR_OK) {
            int whole = rows / R;
            // at least a quad per chunk: a 512-row matrix (16 groups) split into 8 chunks of 2 read one stream each
            WorkerPool.shared().parallelForBalanced(whole, Math.max(RowLaneKernel.STREAMS, grain),
                    (s, e) -> quads(op, y, yOff, s, e));
            if (whole < groups) {
                groups(op, 1, y, yOff, R * whole, rows);
            }
            return;
        }
        WorkerPool.shared().parallelForBalanced(groups, grain,
                (s, e) -> groups(op, tokens, y, yOff, R * s, Math.min(rows, R * e)));
    }

    /**
     * Rows {@code [rowStart, rowEnd)} on the calling thread; for one token the whole groups inside the range run as
     * the parallel path runs them ({@link #quads}), so both give the same bits.
     */
    private void range(Operand op, int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        int g0 = (rowStart + R - 1) / R;
        int g1 = rowEnd / R;
        if (tokens != 1 || !QuantVectors.VECTOR_OK || g0 >= g1) {
            groups(op, tokens, y, yOff, rowStart, rowEnd);
            return;
        }
        if (rowStart < R * g0) {
            groups(op, 1, y, yOff, rowStart, R * g0);
        }
        quads(op, y, yOff, g0, g1);
        if (R * g1 < rowEnd) {
            groups(op, 1, y, yOff, R * g1, rowEnd);
        }
    }

    /**
     * Whole groups {@code [g0, g1)} for one token: group {@code g0 + i} beside groups {@code g0 + q + i},
     * {@code g0 + 2q + i} and {@code g0 + 3q + i}; the remainder one by one.
     */
    private void quads(Operand op, MemorySegment y, long yOff, int g0, int g1) {
        int q = (g1 - g0) / 4;
        for (int i = 0; i < q; i++) {
            int ga = g0 + i;
            RowLaneKernel.group4(blocks, (long) ga * nb * GB, (long) (ga + q) * nb * GB,
                    (long) (ga + 2 * q) * nb * GB, (long) (ga + 3 * q) * nb * GB, nb, QK / 2, GB, op.codes, op.scales,
                    op.zeros, null, y, yOff + 4L * R * ga, yOff + 4L * R * (ga + q), yOff + 4L * R * (ga + 2 * q),
                    yOff + 4L * R * (ga + 3 * q));
        }
        if (g0 + 4 * q < g1) {
            groups(op, 1, y, yOff, R * (g0 + 4 * q), R * g1);
        }
    }

    /**
     * F32 activations checked and quantized into this thread's operand: with vectors by {@link #quantize}, else
     * through {@link Q8Activations} (the same codes).
     */
    private Operand quantized(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        QuantVectors.requirePositive(tokens, "Q4_0 lanes matmul tokens");
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "Q4_0 lanes matmul activations");
        QuantVectors.requireBytes(y, yOff, 4L * rows * tokens, "Q4_0 lanes matmul output");
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
            throw new ShapeMismatchException("Q4_0 lanes matmul: weights have " + in + " columns but the activations "
                    + x.in());
        }
        QuantVectors.requireBytes(y, yOff, 4L * rows * x.tokens(), "Q4_0 lanes matmul output");
    }

    private void groups(Operand op, int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        MemorySegment partial = PARTIAL.get();
        for (int g = rowStart / R; R * g < rowEnd; g++) {
            int k0 = Math.max(rowStart, R * g) - R * g;
            int k1 = Math.min(rowEnd, R * g + R) - R * g;
            for (int t = 0; t < tokens; t++) {
                long yo = yOff + 4L * ((long) t * rows + (long) R * g);
                boolean whole = k0 == 0 && k1 == R;
                if (QuantVectors.VECTOR_OK) {
                    group(blocks, (long) g * nb * GB, nb, op.codes, t * in, op.scales, op.zeros, t * nb,
                            whole ? y : partial, whole ? yo : 0);
                } else {
                    groupScalar(g, op, t, partial);
                }
                if (!QuantVectors.VECTOR_OK || !whole) {
                    MemorySegment.copy(partial, 4L * k0, y, yo + 4L * k0, 4L * (k1 - k0));
                }
            }
        }
    }

    /** One group of {@link #R} rows · one token; writes the R outputs at {@code yo} (see the class comment). */
    private static void group(MemorySegment w, long o, int nb, short[] codes, int c0, float[] scales, int[] zeros,
            int tb0, MemorySegment y, long yo) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        for (int b = 0; b < nb; b++, o += GB) {
            long q = o + QOFF;
            int e = c0 + QK * b;
            ShortVector lo = ShortVector.zero(S);
            ShortVector hi = lo;
            for (int j = 0; j < QK / 2; j++) {
                ShortVector v = (ShortVector) ByteVector.fromMemorySegment(BH, w, q + (long) j * R, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                lo = v.and(NIBBLE).mul(codes[e + j]).add(lo);
                hi = v.lanewise(VectorOperators.LSHR, 4).mul(codes[e + j + QK / 2]).add(hi);
            }
            IntVector z = IntVector.broadcast(I, zeros[tb0 + b]);
            IntVector s0 = ((IntVector) lo.convertShape(VectorOperators.S2I, I, 0))
                    .add((IntVector) hi.convertShape(VectorOperators.S2I, I, 0)).add(z);
            IntVector s1 = ((IntVector) lo.convertShape(VectorOperators.S2I, I, 1))
                    .add((IntVector) hi.convertShape(VectorOperators.S2I, I, 1)).add(z);
            float dx = scales[tb0 + b];
            FloatVector d0 = FloatVector.fromMemorySegment(F, w, o, LE).mul(dx);
            FloatVector d1 = FloatVector.fromMemorySegment(F, w, o + 4L * L, LE).mul(dx);
            acc0 = ((FloatVector) s0.convert(VectorOperators.I2F, 0)).fma(d0, acc0);
            acc1 = ((FloatVector) s1.convert(VectorOperators.I2F, 0)).fma(d1, acc1);
        }
        acc0.intoMemorySegment(y, yo, LE);
        acc1.intoMemorySegment(y, yo + 4L * L, LE);
    }

    /** The same sums in plain Java, into {@code out[0, R)}: the path where the vector kernel does not run. */
    private void groupScalar(int g, Operand op, int t, MemorySegment out) {
        for (int r = 0; r < R; r++) {
            int row = R * g + r;
            float sum = 0;
            for (int b = 0; row < rows && b < nb; b++) {
                int isum = op.zeros[t * nb + b];
                for (int j = 0; j < QK / 2; j++) {
                    int q = quantByte(row, b, j);
                    isum += (q & 0xf) * op.codes[t * in + b * QK + j] + (q >>> 4) * op.codes[t * in + b * QK + j + 16];
                }
                sum = Math.fma((float) isum, scale(row, b) * op.scales[t * nb + b], sum);
            }
            out.set(F32, 4L * r, sum);
        }
    }

    /**
     * The kernel's operand, per calling thread: the Q8 codes as shorts (the kernel broadcasts one per element), and
     * per token and block {@code d_x} and {@code −8·Σx_q}. Java arrays, as {@link Q4_0Packed}'s operand is: their
     * accesses inline to fewer C2 nodes than a segment's.
     */
    private static final class Operand {
        short[] codes = new short[0];
        float[] scales = new float[0];
        int[] zeros = new int[0];

        Operand ensure(int tokens, int in) {
            int n = tokens * in;
            if (codes.length < n) {
                int grown = Math.max(n, 2 * codes.length);
                codes = new short[grown];
                scales = new float[grown / QK];
                zeros = new int[grown / QK];
            }
            return this;
        }
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
                int sum = 0;
                for (int i = 0; i < QK; i += L) {
                    IntVector q = (IntVector) FloatVector.fromMemorySegment(F, x, s + 4L * i, LE).mul(id)
                            .add(Q8_MAGIC).sub(Q8_MAGIC).convertShape(VectorOperators.F2I, I, 0);
                    ((ShortVector) q.convertShape(VectorOperators.I2S, SH, 0)).intoArray(op.codes, t * in + b * QK + i);
                    sum += q.reduceLanes(VectorOperators.ADD);
                }
                op.scales[t * nb + b] = finite ? (id != 0 ? amax / 127f : 0f) : Float.NaN;
                op.zeros[t * nb + b] = -8 * sum;
            }
        }
        return op;
    }
}
