package dev.gale.core.kernel;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * IEEE half-precision elements, read as {@code float} and written rounded to nearest even (OpenCL's {@code vload_half}/{@code vstore_half}; no fp16 arithmetic is needed on the device).
 *
 * <p>A thin kernel-side view of a header-free {@link MemorySegment} (little-endian, as on every Gale device), indexed
 * with {@code long}s. In kernels only {@code get} and {@code set} may be used; device code has no bounds checks, the
 * JVM (emulator) does.
 */
public final class F16 {
    private static final ValueLayout.OfShort LAYOUT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment segment;

    private F16(MemorySegment segment) {
        this.segment = segment;
    }

    /** A view of a {@link DType#F16} buffer's memory. */
    public static F16 of(Buffer buffer) {
        if (buffer.dtype() != DType.F16) {
            throw new GaleException("a F16 view needs a F16 buffer; '" + buffer.name() + "' is " + buffer.dtype());
        }
        return new F16(buffer.segment());
    }

    /** A view of raw memory (the emulator and tests). */
    public static F16 of(MemorySegment segment) {
        return new F16(segment);
    }

    public MemorySegment segment() {
        return segment;
    }

    /** Number of elements (host side only; kernels get sizes as parameters). */
    public long length() {
        return segment.byteSize() / 2;
    }

    public float get(long i) {
        return Float.float16ToFloat(segment.getAtIndex(LAYOUT, i));
    }

    public void set(long i, float v) {
        segment.setAtIndex(LAYOUT, i, Float.floatToFloat16(v));
    }
}
