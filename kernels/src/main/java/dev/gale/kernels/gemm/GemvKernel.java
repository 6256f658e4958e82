package dev.gale.kernels.gemm;

import static dev.gale.kernels.gemm.Operands.F16;
import static dev.gale.kernels.gemm.Operands.F32;
import static dev.gale.kernels.gemm.Operands.LE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The GEMV loops behind {@link GemvF32} and {@link GemvF16}: they differ only in how a vector of weights is loaded
 * (an F32 load, or {@link #half}: an F16 load decoded in registers).
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
     * Decodes {@code L} F16 values at byte {@code off} to F32, exactly (normals, subnormals, ±0, ±Inf, NaN payloads),
     * on the bit patterns: the sign-extended half shifted left by 13 and masked is {@code sign | exponent:mantissa}
     * in F32 position; scaling by 2^112 rebiases the exponent and normalises subnormals; exponent 31 becomes 255.
     */
    static FloatVector half(MemorySegment w, long off) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, off, LE).convertShape(VectorOperators.S2I, I, 0);
        IntVector bits = h.lanewise(VectorOperators.LSHL, 13).and(0x8fffe000);
        IntVector finite = bits.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        return finite.blend(bits.or(0x7f800000), h.and(0x7c00).compare(VectorOperators.EQ, 0x7c00))
                .reinterpretAsFloats();
    }

    /**
     * Rows {@code [rowStart, rowEnd)}. Rows go in blocks of four; a last partial block repeats its last row (computing
     * it again and storing the same value again), so there is one loop body per weight type.
     */
    static void rows(boolean half, MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y,
            long yOff, int in, int rowStart, int rowEnd) {
        long rowBytes = (long) in * (half ? 2 : 4);
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
                blockF16(w, w0, w1, w2, w3, x, xOff, y, y0, y1, y2, y3, in);
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

    /**
     * Two rows per pass, one decode per row per step: the decode expands into many IR nodes, and with four or more
     * per loop C2 hit its inlining node budget (NodeCountInliningCutoff) and left {@link #half} calls boxing
     * (measured 0.5 to 2 MiB allocated per 64x4096 GEMV). Each activation vector is therefore loaded twice per four
     * rows, from L1.
     */
    private static void blockF16(MemorySegment w, long w0, long w1, long w2, long w3, MemorySegment x, long xOff,
            MemorySegment y, long y0, long y1, long y2, long y3, int in) {
        int kv = in - in % L;
        long s01 = pairF16(w, w0, w1, x, xOff, kv);
        long s23 = pairF16(w, w2, w3, x, xOff, kv);
        finish(true, w, w0, w1, w2, w3, x, xOff, y, y0, y1, y2, y3, kv, in, Float.intBitsToFloat((int) s01),
                Float.intBitsToFloat((int) (s01 >>> 32)), Float.intBitsToFloat((int) s23),
                Float.intBitsToFloat((int) (s23 >>> 32)));
    }

    /** The vector part {@code [0, kv)} of rows at {@code w0} and {@code w1}; the two float sums packed in a long. */
    private static long pairF16(MemorySegment w, long w0, long w1, MemorySegment x, long xOff, int kv) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        for (int k = 0; k < kv; k += L) {
            long o = 2L * k;
            FloatVector xa = FloatVector.fromMemorySegment(F, x, xOff + 4L * k, LE);
            a0 = half(w, w0 + o).fma(xa, a0);
            a1 = half(w, w1 + o).fma(xa, a1);
        }
        int s0 = Float.floatToRawIntBits(a0.reduceLanes(VectorOperators.ADD));
        int s1 = Float.floatToRawIntBits(a1.reduceLanes(VectorOperators.ADD));
        return (s0 & 0xffffffffL) | ((long) s1 << 32);
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
