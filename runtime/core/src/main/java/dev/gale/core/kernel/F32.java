package dev.gale.core.kernel;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Elements of type {@code float}.
 *
 * <p>A thin kernel-side view of a header-free {@link MemorySegment} (little-endian, as on every Gale device), indexed
 * with {@code long}s. In kernels only {@code get} and {@code set} may be used; device code has no bounds checks, the
 * JVM (emulator) does.
 */
public final class F32 {
    private static final ValueLayout.OfFloat LAYOUT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment segment;

    private F32(MemorySegment segment) {
        this.segment = segment;
    }

    /** A view of a {@link DType#F32} buffer's memory. */
    public static F32 of(Buffer buffer) {
        if (buffer.dtype() != DType.F32) {
            throw new GaleException("a F32 view needs a F32 buffer; '" + buffer.name() + "' is " + buffer.dtype());
        }
        return new F32(buffer.segment());
    }

    /** A view of raw memory (the emulator and tests). */
    public static F32 of(MemorySegment segment) {
        return new F32(segment);
    }

    public MemorySegment segment() {
        return segment;
    }

    /** Number of elements (host side only; kernels get sizes as parameters). */
    public long length() {
        return segment.byteSize() / 4;
    }

    public float get(long i) {
        return segment.getAtIndex(LAYOUT, i);
    }

    public void set(long i, float v) {
        segment.setAtIndex(LAYOUT, i, v);
    }
}
