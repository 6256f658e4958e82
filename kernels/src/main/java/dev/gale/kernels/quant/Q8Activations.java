package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.B;
import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.I32;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Activations {@code X[tokens][in]} quantized to int8 blocks of 32 with block sums, in a caller-provided scratch
 * segment (nothing is allocated per call). Per block: {@code d = amax/127} (F32), {@code q = rint(x·127/amax)} (round
 * to nearest, ties to even; |q| ≤ 127, never −128) and {@code Σq} (int32). With Σq, a Q4_0 block dot is
 * {@code Σ nib·q − 8·Σq}: one scalar term per block instead of a subtraction per nibble.
 *
 * <p>Scratch layout (all little endian), for capacity {@code maxTokens} and {@code nb = in/32}:
 * <pre>
 *   [0, maxTokens·in)                      int8 q, token-major: q[t][k] at t·in + k
 *   [scaleOffset, + 4·maxTokens·nb)        F32 d[t][b]
 *   [sumOffset,   + 4·maxTokens·nb)        int32 Σq[t][b]
 * </pre>
 * <b>Non-finite input:</b> a block holding NaN or ±Inf gets {@code d = NaN}, {@code q = 0} and {@code Σq = 0}, so every
 * output that reads it is NaN (F32 arithmetic would give NaN or ±Inf there; this path does not tell them apart). An
 * all-zero block (or one whose amax is below 2^-120, where 127/amax would overflow) gets {@code d = 0} and {@code q = 0},
 * never NaN.
 *
 * <p>An instance is mutable (it remembers how many tokens the last {@link #quantize} wrote) and not thread-safe;
 * kernels only read it, so one quantized instance may feed parallel matmuls.
 */
public final class Q8Activations {
    static final float MAGIC = 0x1.8p23f; // adding then subtracting rounds |v| < 2^22 to nearest even
    /** Below this amax, 127/amax would overflow: such a block quantizes to zeros with d = 0. */
    static final float TINY = 0x1p-120f;

    private final MemorySegment scratch;
    private final long base;
    private final int maxTokens;
    private final int in;
    private final int nb;
    private final long scaleOffset;
    private final long sumOffset;
    private int tokens;

    /**
     * Wraps {@code scratch} at {@code offset}, which must hold {@link #scratchBytes(int, int)} bytes.
     *
     * @throws ShapeMismatchException if {@code in} is not a positive multiple of 32 or the scratch is too small
     */
    public Q8Activations(MemorySegment scratch, long offset, int maxTokens, int in) {
        QuantVectors.requireBlocks(in, "Q8 activations");
        if (maxTokens < 1) {
            throw new ShapeMismatchException("Q8 activations need at least one token, got " + maxTokens);
        }
        QuantVectors.requireBytes(scratch, offset, scratchBytes(maxTokens, in), "Q8 activation scratch");
        this.scratch = scratch;
        this.base = offset;
        this.maxTokens = maxTokens;
        this.in = in;
        this.nb = in / QK;
        this.scaleOffset = offset + align64((long) maxTokens * in);
        this.sumOffset = scaleOffset + align64(4L * maxTokens * nb);
    }

    /** Scratch bytes needed for {@code maxTokens} rows of {@code in} elements. */
    public static long scratchBytes(int maxTokens, int in) {
        QuantVectors.requireBlocks(in, "Q8 activations");
        long nb = in / QK;
        return align64((long) maxTokens * in) + align64(4L * maxTokens * nb) + 4L * maxTokens * nb;
    }

    private static long align64(long v) {
        return (v + 63) & ~63L;
    }

    public MemorySegment segment() {
        return scratch;
    }

    public int in() {
        return in;
    }

    public int maxTokens() {
        return maxTokens;
    }

    /** Tokens written by the last {@link #quantize} or {@link #quantizeReference}. */
    public int tokens() {
        return tokens;
    }

    /** Byte offset of {@code q[t][0]} in {@link #segment()}. */
    public long qOffset(int t) {
        return base + (long) t * in;
    }

    /** Byte offset of the F32 {@code d[t][0]}. */
    public long scaleOffset(int t) {
        return scaleOffset + 4L * t * nb;
    }

    /** Byte offset of the int32 {@code Σq[t][0]}. */
    public long sumOffset(int t) {
        return sumOffset + 4L * t * nb;
    }

    public byte q(int t, int k) {
        return scratch.get(ValueLayout.JAVA_BYTE, qOffset(t) + k);
    }

    public float scale(int t, int block) {
        return scratch.get(F32, scaleOffset(t) + 4L * block);
    }

    public int sum(int t, int block) {
        return scratch.get(I32, sumOffset(t) + 4L * block);
    }

    private void checkInput(MemorySegment x, long xOff, int tokens) {
        if (tokens < 0 || tokens > maxTokens) {
            throw new ShapeMismatchException("Q8 activations: " + tokens + " tokens, capacity " + maxTokens);
        }
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "Q8 activation input");
    }

    /** Quantizes F32 {@code X[tokens][in]} at {@code xOff} (Vector API; scalar where the shape is unsupported). */
    public void quantize(MemorySegment x, long xOff, int tokens) {
        checkInput(x, xOff, tokens);
        if (!QuantVectors.VECTOR_OK) {
            quantizeReference(x, xOff, tokens);
            return;
        }
        for (int t = 0; t < tokens; t++) {
            long src = xOff + 4L * t * in;
            long q = qOffset(t);
            long sc = scaleOffset(t);
            long su = sumOffset(t);
            for (int b = 0; b < nb; b++) {
                long s = src + 4L * b * QK;
                FloatVector m = FloatVector.fromMemorySegment(F, x, s, LE).abs();
                for (int j = L; j < QK; j += L) {
                    m = m.max(FloatVector.fromMemorySegment(F, x, s + 4L * j, LE).abs());
                }
                float amax = m.reduceLanes(VectorOperators.MAX);
                long qb = q + (long) b * QK;
                if (!(amax <= Float.MAX_VALUE)) { // NaN or Inf in the block
                    ByteVector z = ByteVector.zero(B);
                    for (int j = 0; j < QK; j += L) {
                        z.intoMemorySegment(scratch, qb + j, LE);
                    }
                    scratch.set(F32, sc + 4L * b, Float.NaN);
                    scratch.set(I32, su + 4L * b, 0);
                    continue;
                }
                float id = amax >= TINY ? 127f / amax : 0f;
                IntVector sum = IntVector.zero(I);
                for (int j = 0; j < QK; j += L) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, s + 4L * j, LE).mul(id).add(MAGIC).sub(MAGIC);
                    IntVector qi = (IntVector) v.convertShape(VectorOperators.F2I, I, 0);
                    sum = sum.add(qi);
                    qi.convertShape(VectorOperators.I2B, B, 0).intoMemorySegment(scratch, qb + j, LE);
                }
                scratch.set(F32, sc + 4L * b, id != 0 ? amax / 127f : 0f);
                scratch.set(I32, su + 4L * b, sum.reduceLanes(VectorOperators.ADD));
            }
        }
        this.tokens = tokens;
    }

    /** The plain scalar definition of {@link #quantize}; writes identical bytes. */
    public void quantizeReference(MemorySegment x, long xOff, int tokens) {
        checkInput(x, xOff, tokens);
        for (int t = 0; t < tokens; t++) {
            for (int b = 0; b < nb; b++) {
                long s = xOff + 4L * ((long) t * in + (long) b * QK);
                float amax = 0;
                for (int j = 0; j < QK; j++) {
                    amax = Math.max(amax, Math.abs(x.get(F32, s + 4L * j)));
                }
                long qb = qOffset(t) + (long) b * QK;
                if (Float.isNaN(amax) || Float.isInfinite(amax)) {
                    for (int j = 0; j < QK; j++) {
                        scratch.set(ValueLayout.JAVA_BYTE, qb + j, (byte) 0);
                    }
                    scratch.set(F32, scaleOffset(t) + 4L * b, Float.NaN);
                    scratch.set(I32, sumOffset(t) + 4L * b, 0);
                    continue;
                }
                float id = amax >= TINY ? 127f / amax : 0f;
                int sum = 0;
                for (int j = 0; j < QK; j++) {
                    int v = (int) Math.rint(x.get(F32, s + 4L * j) * id);
                    sum += v;
                    scratch.set(ValueLayout.JAVA_BYTE, qb + j, (byte) v);
                }
                scratch.set(F32, scaleOffset(t) + 4L * b, id != 0 ? amax / 127f : 0f);
                scratch.set(I32, sumOffset(t) + 4L * b, sum);
            }
        }
        this.tokens = tokens;
    }
}
