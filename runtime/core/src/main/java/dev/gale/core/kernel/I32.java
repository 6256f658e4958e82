package dev.gale.core.kernel;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Elements of type {@code int}; the only view with atomics ({@link KernelContext#atomicAdd(I32, long, int)} and friends).
 *
 * <p>A thin kernel-side view of a header-free {@link MemorySegment} (little-endian, as on every Gale device), indexed
 * with {@code long}s. In kernels only {@code get} and {@code set} may be used; device code has no bounds checks, the
 * JVM (emulator) does.
 */
public final class I32 {
    private static final ValueLayout.OfInt LAYOUT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment segment;

    private I32(MemorySegment segment) {
        this.segment = segment;
    }

    /** A view of a {@link DType#I32} buffer's memory. */
    public static I32 of(Buffer buffer) {
        if (buffer.dtype() != DType.I32) {
            throw new GaleException("a I32 view needs a I32 buffer; '" + buffer.name() + "' is " + buffer.dtype());
        }
        return new I32(buffer.segment());
    }

    /** A view of raw memory (the emulator and tests). */
    public static I32 of(MemorySegment segment) {
        return new I32(segment);
    }

    public MemorySegment segment() {
        return segment;
    }

    /** Number of elements (host side only; kernels get sizes as parameters). */
    public long length() {
        return segment.byteSize() / 4;
    }

    public int get(long i) {
        return segment.getAtIndex(LAYOUT, i);
    }

    public void set(long i, int v) {
        segment.setAtIndex(LAYOUT, i, v);
    }
}
