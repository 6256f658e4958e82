package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F16;
import static dev.gale.kernels.Operands.F32;

import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;

/**
 * A strided view of per-head vectors: element {@code e} of head {@code h} at token {@code t} lies at byte
 * {@code offset + ((t·tokenStride + h·headStride) + e) · elemBytes}. Token-major activations {@code [N][H][d]} have
 * {@code tokenStride = H·d, headStride = d}; a head-major cache {@code [H][capacity][d]} has
 * {@code tokenStride = d, headStride = capacity·d}. Elements within a head vector are contiguous, which every
 * vectorised kernel relies on.
 */
public record HeadView(MemorySegment segment, long offset, DType dtype, long tokenStride, long headStride) {
    public HeadView {
        if (dtype != DType.F32 && dtype != DType.F16) {
            throw new IllegalArgumentException("attention: head views are F32 or F16, got " + dtype);
        }
        if (offset < 0 || tokenStride < 0 || headStride < 0) {
            throw new IllegalArgumentException("attention: negative offset or stride in head view");
        }
    }

    /** Token-major {@code [tokens][heads][d]} F32 at byte {@code offset}. */
    public static HeadView tokenMajor(MemorySegment seg, long offset, int heads, int d) {
        return new HeadView(seg, offset, DType.F32, (long) heads * d, d);
    }

    /** Head-major {@code [heads][capacity][d]} at byte {@code offset}. */
    public static HeadView headMajor(MemorySegment seg, long offset, DType dtype, int capacity, int d) {
        return new HeadView(seg, offset, dtype, d, (long) capacity * d);
    }

    /** Byte offset of element 0 of head {@code h} at token {@code t}. */
    public long at(long t, int h) {
        return offset + (t * tokenStride + h * headStride) * elemBytes();
    }

    public int elemBytes() {
        return dtype == DType.F32 ? 4 : 2;
    }

    /** Element {@code e} of head {@code h} at token {@code t}, widened to float. */
    public float get(long t, int h, int e) {
        long b = at(t, h) + (long) e * elemBytes();
        return dtype == DType.F32 ? segment.get(F32, b) : Float.float16ToFloat(segment.get(F16, b));
    }

    /** Stores {@code v} (rounded to F16 when the view is F16). */
    public void set(long t, int h, int e, float v) {
        long b = at(t, h) + (long) e * elemBytes();
        if (dtype == DType.F32) {
            segment.set(F32, b, v);
        } else {
            segment.set(F16, b, Float.floatToFloat16(v));
        }
    }

    /** Throws unless tokens {@code [0, tokens)} of heads {@code [0, heads)} with {@code d} elements fit. */
    public void require(String op, String operand, int tokens, int heads, int d) {
        if (tokens == 0 || heads == 0) {
            return;
        }
        // Strides are non-negative, so the last vector of the last head ends furthest.
        long last = at(tokens - 1L, heads - 1) + (long) d * elemBytes();
        if (last > segment.byteSize()) {
            throw new IllegalArgumentException(op + ": " + operand + " needs " + last + " bytes for " + tokens
                    + " tokens x " + heads + " heads x " + d + " but the segment has " + segment.byteSize());
        }
    }
}
