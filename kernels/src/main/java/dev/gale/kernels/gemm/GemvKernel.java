package dev.gale.kernels.gemm;

import static dev.gale.kernels.Operands.F16;
import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.LE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The GEMV loops behind {@link GemvF32} and {@link GemvF16}: they differ only in how a vector of weights is loaded
 * (an F32 load, or an F16 load decoded in registers, see {@link #blockF16}).
 *
 * <p>Per pass, {@link GemvF32#ROWS} rows are streamed together so each activation vector is loaded once and used four
 * times; each row keeps two independent accumulators (the loop is unrolled by two vectors), reduced once per row.
 * Elements past the last whole vector are summed in scalar F32.
 */
final class GemvKernel {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Shorts at half the int width: one load widens into exactly one int vector (part 0, no cross-lane shuffles). */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class,
            VectorShape.forBitSize(I.vectorBitSize() / 2));
    static final int L = F.length();

    private GemvKernel() {
    }

    /**
     * Rows {@code [rowStart, rowEnd)}. Rows go in blocks of four; a last partial block repeats its last row (computing
     * it again and storing the same value again), so there is one loop body per weight type.
     */
    static void rows(boolean half, MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y,
            long yOff, int in, int rowStart, int rowEnd) {
        long rowBytes = (long) in * (half ? 2 : 4);
        float[] xs = half ? pairedActivations(x, xOff, in) : null;
        for (int r = rowStart; r < rowEnd; r += 4) {
            int last = rowEnd - 1;
            int r1 = Math.min(r + 1, last);
            int r2 = Math.min(r + 2, last);
            int r3 = Math.min(r + 3, last);
            long w0 = wOff + r * rowBytes;
            long w1 = wOff + r1 * rowBytes;
            long w2 = wOff + r2 * rowBytes;
            long w3 = wOff + r3 * rowBytes;
            long y0 = yOff + 4L * r;
            long y1 = yOff + 4L * r1;
            long y2 = yOff + 4L * r2;
            long y3 = yOff + 4L * r3;
            if (half) {
                if (xs == null || !blockF16Pairs(w, w0, w1, w2, w3, xs, x, xOff, y, y0, y1, y2, y3, in)) {
                    blockF16(w, w0, w1, w2, w3, x, xOff, y, y0, y1, y2, y3, in);
                }
            } else {
                blockF32(w, w0, w1, w2, w3, x, xOff, y, y0, y1, y2, y3, in);
            }
        }
    }

    // The two block bodies below differ only in the weight loads. They are written out rather than sharing a
    // vector-returning load helper: C2 does not reliably inline such a helper into a loop this size (it reports
    // "callee is too large"), and every call that is not inlined boxes its vector (measured: 2 MiB allocated per
    // 64x4096 GEMV). The float reduction and the scalar tail are shared.

    private static void blockF32(MemorySegment w, long w0, long w1, long w2, long w3, MemorySegment x, long xOff,
            MemorySegment y, long y0, long y1, long y2, long y3, int in) {
        int kv = in - in % L;
        int kv2 = in - in % (2 * L);
        long vb = 4L * L;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int k = 0;
        for (; k < kv2; k += 2 * L) {
            long o = 4L * k;
            FloatVector xa = FloatVector.fromMemorySegment(F, x, xOff + o, LE);
            FloatVector xb = FloatVector.fromMemorySegment(F, x, xOff + o + vb, LE);
            a0 = FloatVector.fromMemorySegment(F, w, w0 + o, LE).fma(xa, a0);
            a1 = FloatVector.fromMemorySegment(F, w, w1 + o, LE).fma(xa, a1);
            a2 = FloatVector.fromMemorySegment(F, w, w2 + o, LE).fma(xa, a2);
            a3 = FloatVector.fromMemorySegment(F, w, w3 + o, LE).fma(xa, a3);
            b0 = FloatVector.fromMemorySegment(F, w, w0 + o + vb, LE).fma(xb, b0);
            b1 = FloatVector.fromMemorySegment(F, w, w1 + o + vb, LE).fma(xb, b1);
            b2 = FloatVector.fromMemorySegment(F, w, w2 + o + vb, LE).fma(xb, b2);
            b3 = FloatVector.fromMemorySegment(F, w, w3 + o + vb, LE).fma(xb, b3);
        }
        if (k < kv) {
            long o = 4L * k;
            FloatVector xa = FloatVector.fromMemorySegment(F, x, xOff + o, LE);
            a0 = FloatVector.fromMemorySegment(F, w, w0 + o, LE).fma(xa, a0);
            a1 = FloatVector.fromMemorySegment(F, w, w1 + o, LE).fma(xa, a1);
            a2 = FloatVector.fromMemorySegment(F, w, w2 + o, LE).fma(xa, a2);
            a3 = FloatVector.fromMemorySegment(F, w, w3 + o, LE).fma(xa, a3);
        }
        float s0 = a0.add(b0).reduceLanes(VectorOperators.ADD);
        float s1 = a1.add(b1).reduceLanes(VectorOperators.ADD);
        float s2 = a2.add(b2).reduceLanes(VectorOperators.ADD);
        float s3 = a3.add(b3).reduceLanes(VectorOperators.ADD);
        finish(false, w, w0, w1, w2, w3, x, xOff, y, y0, y1, y2, y3, kv, in, s0, s1, s2, s3);
    }

    /** Sign, exponent and mantissa bits of a sign-extended F16 shifted left by 13 (bits 30..28 are sign copies). */
    private static final int SIGN_EXP_MANT = 0x8fffe000;
    /** 2^(127 − 15): rebiases the exponent, and turns F16 subnormals into normal F32 values exactly. */
    private static final float REBIAS = 0x1p112f;

    /**
     * F16 weights, decoded exactly to F32 in registers (normals, subnormals, ±0, ±Inf, NaN payloads) on the bit
     * patterns: the sign-extended half shifted left by 13 and masked is {@code sign | exponent:mantissa} in F32
     * position; multiplying by 2^112 rebiases the exponent; exponent 31 (Inf/NaN) is blended to 255.
     *
     * <p>The decode is written out in the loop, not called: a helper returning a vector must be inlined or its
     * result is boxed, and C2 stopped inlining it once a few copies had used up its node budget for the method
     * (NodeCountInliningCutoff: measured 0.5 to 1.3 MiB allocated per call). The Vector API methods themselves are
     * force-inlined and not subject to that budget. One accumulator per row (four independent FMA chains); the
     * decode, not the FMA latency, is the limit here.
     */
    private static void blockF16(MemorySegment w, long w0, long w1, long w2, long w3, MemorySegment x, long xOff,
            MemorySegment y, long y0, long y1, long y2, long y3, int in) {
        int kv = in - in % L;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < kv; k += L) {
            long o = 2L * k;
            FloatVector xa = FloatVector.fromMemorySegment(F, x, xOff + 4L * k, LE);
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, w, w0 + o, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector e0 = h0.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT);
            a0 = e0.reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                    .blend(e0.or(0x7f800000), h0.and(0x7c00).compare(VectorOperators.EQ, 0x7c00))
                    .reinterpretAsFloats().fma(xa, a0);
            IntVector h1 = (IntVector) ShortVector.fromMemorySegment(S, w, w1 + o, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector e1 = h1.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT);
            a1 = e1.reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                    .blend(e1.or(0x7f800000), h1.and(0x7c00).compare(VectorOperators.EQ, 0x7c00))
                    .reinterpretAsFloats().fma(xa, a1);
            IntVector h2 = (IntVector) ShortVector.fromMemorySegment(S, w, w2 + o, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector e2 = h2.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT);
            a2 = e2.reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                    .blend(e2.or(0x7f800000), h2.and(0x7c00).compare(VectorOperators.EQ, 0x7c00))
                    .reinterpretAsFloats().fma(xa, a2);
            IntVector h3 = (IntVector) ShortVector.fromMemorySegment(S, w, w3 + o, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector e3 = h3.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT);
            a3 = e3.reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                    .blend(e3.or(0x7f800000), h3.and(0x7c00).compare(VectorOperators.EQ, 0x7c00))
                    .reinterpretAsFloats().fma(xa, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        finish(true, w, w0, w1, w2, w3, x, xOff, y, y0, y1, y2, y3, kv, in, s0, s1, s2, s3);
    }

    /**
     * Largest |x| for which the fast F16 path may be used: x·2^112 must stay finite. NaN activations fail the
     * comparison and so take the exact path as well.
     */
    private static final float SCALED_X_LIMIT = 0x1p15f;
    /** The exponent fields of the two halves in an int lane. */
    private static final int EXP_PAIR = 0x7c007c00;
    /** Shorts at the full int width: an int vector reinterpreted as its 16-bit halves. */
    private static final VectorSpecies<Short> SP = VectorSpecies.of(short.class, I.vectorShape());

    /** Per-thread activation scratch for the fast F16 path; grows with {@code in}, then is reused. */
    private static final ThreadLocal<float[][]> X_SCRATCH = ThreadLocal.withInitial(() -> new float[1][0]);

    /**
     * Prepares the activations of the fast F16 path: each block of 2L values is split into its L even-indexed and L
     * odd-indexed values (matching how {@link #blockF16Pairs} splits an int lane into its low and high half), and
     * scaled by 2^112. Returns null, and the caller takes the exact path, if some |x| ≥ {@link #SCALED_X_LIMIT} or
     * is NaN.
     */
    private static float[] pairedActivations(MemorySegment x, long xOff, int in) {
        float[][] holder = X_SCRATCH.get();
        int kv = in - in % (2 * L);
        if (holder[0].length < kv) {
            holder[0] = new float[kv];
        }
        float[] xs = holder[0];
        for (int k = 0; k < in; k++) {
            float v = x.get(F32, xOff + 4L * k);
            if (!(Math.abs(v) < SCALED_X_LIMIT)) {
                return null;
            }
            if (k < kv) {
                int block = k - k % (2 * L);
                int j = k - block;
                xs[block + (j & 1) * L + (j >> 1)] = v * REBIAS;
            }
        }
        return xs;
    }

    /**
     * The fast F16 path, about 2.5× the exact one's throughput (measured in cache). Two changes:
     * <ul>
     *   <li>The 2^112 rebias moves from each weight to the activation: {@code w·x = (w·2^−112)·(x·2^112)}, both
     *       scalings exact, and the FMA still rounds the exact product once. So a weight decodes with shifts and a
     *       mask alone: {@code w·2^−112} is exactly the F32 whose bits are {@code sign | exponent:mantissa << 13},
     *       subnormal halves included.</li>
     *   <li>Weights are loaded as int lanes holding two halves each (no widening conversion): the low half
     *       decodes as {@code ((v << 16) >> 3) & mask}, the high half as {@code (v >> 3) & mask} (arithmetic
     *       shifts carry the sign to bit 31); the activations were split into even and odd halves to match.</li>
     * </ul>
     * Only exponent 31 (Inf/NaN) decodes wrongly; a running max of the exponent fields detects it, and then this
     * returns false without storing and the caller runs the exact {@link #blockF16}.
     */
    private static boolean blockF16Pairs(MemorySegment w, long w0, long w1, long w2, long w3, float[] xs,
            MemorySegment x, long xOff, MemorySegment y, long y0, long y1, long y2, long y3, int in) {
        int kv = in - in % (2 * L);
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        ShortVector special = ShortVector.zero(SP);
        for (int k = 0; k < kv; k += 2 * L) {
            long o = 2L * k;
            FloatVector xe = FloatVector.fromArray(F, xs, k);
            FloatVector xo = FloatVector.fromArray(F, xs, k + L);
            IntVector v0 = IntVector.fromMemorySegment(I, w, w0 + o, LE);
            IntVector v1 = IntVector.fromMemorySegment(I, w, w1 + o, LE);
            IntVector v2 = IntVector.fromMemorySegment(I, w, w2 + o, LE);
            IntVector v3 = IntVector.fromMemorySegment(I, w, w3 + o, LE);
            a0 = v0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(SIGN_EXP_MANT)
                    .reinterpretAsFloats().fma(xe, a0);
            a1 = v1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(SIGN_EXP_MANT)
                    .reinterpretAsFloats().fma(xe, a1);
            a2 = v2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(SIGN_EXP_MANT)
                    .reinterpretAsFloats().fma(xe, a2);
            a3 = v3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(SIGN_EXP_MANT)
                    .reinterpretAsFloats().fma(xe, a3);
            b0 = v0.lanewise(VectorOperators.ASHR, 3).and(SIGN_EXP_MANT).reinterpretAsFloats().fma(xo, b0);
            b1 = v1.lanewise(VectorOperators.ASHR, 3).and(SIGN_EXP_MANT).reinterpretAsFloats().fma(xo, b1);
            b2 = v2.lanewise(VectorOperators.ASHR, 3).and(SIGN_EXP_MANT).reinterpretAsFloats().fma(xo, b2);
            b3 = v3.lanewise(VectorOperators.ASHR, 3).and(SIGN_EXP_MANT).reinterpretAsFloats().fma(xo, b3);
            // Exponent fields of both halves, as 16-bit lanes: 0x7c00 only for Inf/NaN.
            special = special.max(v0.and(EXP_PAIR).reinterpretAsShorts())
                    .max(v1.and(EXP_PAIR).reinterpretAsShorts())
                    .max(v2.and(EXP_PAIR).reinterpretAsShorts())
                    .max(v3.and(EXP_PAIR).reinterpretAsShorts());
        }
        if (special.reduceLanes(VectorOperators.MAX) == 0x7c00) {
            return false;
        }
        float s0 = a0.add(b0).reduceLanes(VectorOperators.ADD);
        float s1 = a1.add(b1).reduceLanes(VectorOperators.ADD);
        float s2 = a2.add(b2).reduceLanes(VectorOperators.ADD);
        float s3 = a3.add(b3).reduceLanes(VectorOperators.ADD);
        finish(true, w, w0, w1, w2, w3, x, xOff, y, y0, y1, y2, y3, kv, in, s0, s1, s2, s3);
        return true;
    }

    /** Adds the scalar tail {@code [kv, in)} to the four row sums and stores them. */
    private static void finish(boolean half, MemorySegment w, long w0, long w1, long w2, long w3, MemorySegment x,
            long xOff, MemorySegment y, long y0, long y1, long y2, long y3, int kv, int in, float s0, float s1,
            float s2, float s3) {
        for (int k = kv; k < in; k++) {
            float xv = x.get(F32, xOff + 4L * k);
            s0 += scalar(half, w, w0, k) * xv;
            s1 += scalar(half, w, w1, k) * xv;
            s2 += scalar(half, w, w2, k) * xv;
            s3 += scalar(half, w, w3, k) * xv;
        }
        y.set(F32, y0, s0);
        y.set(F32, y1, s1);
        y.set(F32, y2, s2);
        y.set(F32, y3, s3);
    }

    private static float scalar(boolean half, MemorySegment w, long row, int k) {
        return half ? Float.float16ToFloat(w.get(F16, row + 2L * k)) : w.get(F32, row + 4L * k);
    }
}
