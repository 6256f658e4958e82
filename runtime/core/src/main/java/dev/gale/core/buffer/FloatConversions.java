package dev.gale.core.buffer;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * F16 and BF16 to and from F32, over whole runs of native memory, with the Vector API. There are no half-precision
 * lanes in the Vector API, so the conversions are done on the bit patterns in int lanes. All of them are exact
 * (F16/BF16 → F32) or round to nearest even (F32 → F16/BF16), and keep ±Inf, NaN and subnormals, which is what
 * {@link Float#float16ToFloat} and {@link Float#floatToFloat16} define; the scalar tails use those.
 */
public final class FloatConversions {
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Shorts at half the int width, so one load widens into exactly one int vector (part 0, no shuffles). */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class,
            VectorShape.forBitSize(I.vectorBitSize() / 2));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private FloatConversions() {
    }

    /** Rounds to nearest even; NaN stays a quiet NaN. */
    public static short floatToBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    public static float bf16ToFloat(short v) {
        return Float.intBitsToFloat(v << 16);
    }

    /** {@code count} F16 values at byte offset {@code srcOff} → F32 at byte offset {@code dstOff}. */
    public static void f16ToF32(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long count) {
        long i = 0;
        long bound = count - count % I.length();
        for (; i < bound; i += I.length()) {
            IntVector h = ((IntVector) ShortVector.fromMemorySegment(S, src, srcOff + 2 * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0)).and(0xffff);
            IntVector em = h.and(0x7fff);
            IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
            // Scaling by 2^112 rebiases the exponent and turns F16 subnormals into normal F32 values exactly.
            IntVector bits = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
            VectorMask<Integer> infOrNan = em.compare(VectorOperators.GE, 0x7c00);
            bits = bits.blend(shifted.or(0x7f800000), infOrNan);
            bits = bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16));
            bits.reinterpretAsFloats().intoMemorySegment(dst, dstOff + 4 * i, LE);
        }
        for (; i < count; i++) {
            dst.set(Buffer.F32, dstOff + 4 * i, Float.float16ToFloat(src.get(Buffer.I16, srcOff + 2 * i)));
        }
    }

    /**
     * {@code count} F16 values at byte offset {@code srcOff} → {@code dst[dstOff …]}. Written as the plain scalar
     * loop on purpose: C2 vectorises {@link Float#float16ToFloat} over a counted loop into the hardware conversion
     * ({@code vcvtph2ps} with F16C, {@code fcvtl} on NEON), one instruction per vector, where the bit-pattern code
     * above needs about ten; measured here at 0.075 vs 0.15–0.20 ns per element from L1. The Vector API cannot
     * reach that instruction (no F16 lanes), so code that stages F16 data into F32 scratch calls this.
     */
    public static void f16ToF32(MemorySegment src, long srcOff, float[] dst, int dstOff, int count) {
        for (int i = 0; i < count; i++) {
            dst[dstOff + i] = Float.float16ToFloat(src.get(Buffer.I16, srcOff + 2L * i));
        }
    }

    /** {@code count} F32 values → F16, rounding to nearest even. */
    public static void f32ToF16(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long count) {
        long i = 0;
        long bound = count - count % I.length();
        final int f16max = (127 + 16) << 23;
        final int denormMagic = ((127 - 15) + (23 - 10) + 1) << 23;
        for (; i < bound; i += I.length()) {
            IntVector f = FloatVector.fromMemorySegment(F, src, srcOff + 4 * i, LE).reinterpretAsInts();
            IntVector sign = f.and(0x80000000);
            IntVector a = f.and(0x7fffffff);
            // Overflow to Inf, or NaN (kept quiet).
            IntVector big = IntVector.broadcast(I, 0x7c00)
                    .blend(IntVector.broadcast(I, 0x7e00), a.compare(VectorOperators.GT, 0x7f800000));
            // Subnormal results: let the FPU round by adding a magic number whose ulp is the F16 subnormal step.
            IntVector sub = a.reinterpretAsFloats().add(Float.intBitsToFloat(denormMagic)).reinterpretAsInts()
                    .sub(denormMagic);
            // Normal results: rebias and round to nearest even on bit 13.
            IntVector odd = a.lanewise(VectorOperators.LSHR, 13).and(1);
            IntVector norm = a.add(((15 - 127) << 23) + 0xfff).add(odd).lanewise(VectorOperators.LSHR, 13);
            IntVector o = norm.blend(sub, a.compare(VectorOperators.LT, 113 << 23));
            o = o.blend(big, a.compare(VectorOperators.GE, f16max));
            o = o.or(sign.lanewise(VectorOperators.LSHR, 16));
            ((ShortVector) o.convertShape(VectorOperators.I2S, S, 0)).intoMemorySegment(dst, dstOff + 2 * i, LE);
        }
        for (; i < count; i++) {
            dst.set(Buffer.I16, dstOff + 2 * i, Float.floatToFloat16(src.get(Buffer.F32, srcOff + 4 * i)));
        }
    }

    /** {@code count} BF16 values → F32 (exact: a 16-bit shift). */
    public static void bf16ToF32(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long count) {
        long i = 0;
        long bound = count - count % I.length();
        for (; i < bound; i += I.length()) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, src, srcOff + 2 * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoMemorySegment(dst, dstOff + 4 * i, LE);
        }
        for (; i < count; i++) {
            dst.set(Buffer.F32, dstOff + 4 * i, bf16ToFloat(src.get(Buffer.I16, srcOff + 2 * i)));
        }
    }

    /** {@code count} F32 values → BF16, rounding to nearest even. */
    public static void f32ToBf16(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long count) {
        long i = 0;
        long bound = count - count % I.length();
        for (; i < bound; i += I.length()) {
            IntVector f = FloatVector.fromMemorySegment(F, src, srcOff + 4 * i, LE).reinterpretAsInts();
            IntVector rounded = f.add(0x7fff).add(f.lanewise(VectorOperators.LSHR, 16).and(1))
                    .lanewise(VectorOperators.LSHR, 16);
            IntVector nan = f.lanewise(VectorOperators.LSHR, 16).or(0x40);
            IntVector o = rounded.blend(nan, f.and(0x7fffffff).compare(VectorOperators.GT, 0x7f800000));
            ((ShortVector) o.convertShape(VectorOperators.I2S, S, 0)).intoMemorySegment(dst, dstOff + 2 * i, LE);
        }
        for (; i < count; i++) {
            dst.set(Buffer.I16, dstOff + 2 * i, floatToBf16(src.get(Buffer.F32, srcOff + 4 * i)));
        }
    }

    /** Converts a whole buffer into an F32 buffer of the same length. */
    public static void toF32(Buffer src, Buffer dst) {
        requireSameLength(src, dst);
        switch (src.dtype()) {
            case F16 -> f16ToF32(src.segment(), 0, dst.segment(), 0, src.length());
            case BF16 -> bf16ToF32(src.segment(), 0, dst.segment(), 0, src.length());
            case F32 -> MemorySegment.copy(src.segment(), 0, dst.segment(), 0, src.byteSize());
            default -> throw new IllegalArgumentException("no float conversion from " + src.dtype());
        }
    }

    /** Converts an F32 buffer into an F16, BF16 or F32 buffer of the same length. */
    public static void fromF32(Buffer src, Buffer dst) {
        requireSameLength(src, dst);
        switch (dst.dtype()) {
            case F16 -> f32ToF16(src.segment(), 0, dst.segment(), 0, src.length());
            case BF16 -> f32ToBf16(src.segment(), 0, dst.segment(), 0, src.length());
            case F32 -> MemorySegment.copy(src.segment(), 0, dst.segment(), 0, src.byteSize());
            default -> throw new IllegalArgumentException("no float conversion to " + dst.dtype());
        }
    }

    private static void requireSameLength(Buffer a, Buffer b) {
        if (a.length() != b.length()) {
            throw new dev.gale.core.ShapeMismatchException("converting buffer '" + a.name() + "' (" + a.length()
                    + " " + a.dtype() + ") into '" + b.name() + "' (" + b.length() + " " + b.dtype() + ")");
        }
    }
}
