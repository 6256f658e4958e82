package dev.gale.core.kernel;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Unsigned bytes, read as {@code int} in 0..255; {@code set} stores the low 8 bits.
 *
 * <p>A thin kernel-side view of a header-free {@link MemorySegment} (little-endian, as on every Gale device), indexed
 * with {@code long}s. In kernels only {@code get} and {@code set} may be used; device code has no bounds checks, the
 * JVM (emulator) does.
 */
public final class U8 {
    private static final ValueLayout.OfByte LAYOUT = ValueLayout.JAVA_BYTE;
    private final MemorySegment segment;

    private U8(MemorySegment segment) {
        this.segment = segment;
    }

    /** A view of a {@link DType#U8} buffer's memory. */
    public static U8 of(Buffer buffer) {
        if (buffer.dtype() != DType.U8) {
            throw new GaleException("a U8 view needs a U8 buffer; '" + buffer.name() + "' is " + buffer.dtype());
        }
        return new U8(buffer.segment());
    }

    /** A view of raw memory (the emulator and tests). */
    public static U8 of(MemorySegment segment) {
        return new U8(segment);
    }

    public MemorySegment segment() {
        return segment;
    }

    /** Number of elements (host side only; kernels get sizes as parameters). */
    public long length() {
        return segment.byteSize() / 1;
    }

    public int get(long i) {
        return Byte.toUnsignedInt(segment.get(LAYOUT, i));
    }

    public void set(long i, int v) {
        segment.set(LAYOUT, i, (byte) v);
    }
}
