package dev.gale.core.kernel;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Packed 4-bit values, accessed a whole byte at a time: {@code get(b)} returns byte {@code b} as 0..255 (element {@code 2b} in the low nibble, {@code 2b+1} in the high nibble) and {@code set(b, v)} stores the low 8 bits of {@code v}. Kernels split nibbles with {@code & 0xF} and {@code >>> 4}; a byte holds two elements, so one work item should own each byte it writes.
 *
 * <p>A thin kernel-side view of a header-free {@link MemorySegment} (little-endian, as on every Gale device), indexed
 * with {@code long}s. In kernels only {@code get} and {@code set} may be used; device code has no bounds checks, the
 * JVM (emulator) does.
 */
public final class Q4 {
    private static final ValueLayout.OfByte LAYOUT = ValueLayout.JAVA_BYTE;
    private final MemorySegment segment;

    private Q4(MemorySegment segment) {
        this.segment = segment;
    }

    /** A view of a {@link DType#Q4} buffer's memory. */
    public static Q4 of(Buffer buffer) {
        if (buffer.dtype() != DType.Q4) {
            throw new GaleException("a Q4 view needs a Q4 buffer; '" + buffer.name() + "' is " + buffer.dtype());
        }
        return new Q4(buffer.segment());
    }

    /** A view of raw memory (the emulator and tests). */
    public static Q4 of(MemorySegment segment) {
        return new Q4(segment);
    }

    public MemorySegment segment() {
        return segment;
    }

    /** Number of bytes (two 4-bit elements each; host side only). */
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
