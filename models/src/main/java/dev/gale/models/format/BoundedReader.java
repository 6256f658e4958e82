package dev.gale.models.format;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A little-endian cursor over an untrusted file. Every read names the field it reads, and is checked against the
 * end of the file first, so a truncated or corrupt file ends in a {@link ModelFormatException} naming that field and
 * its offset rather than an {@code IndexOutOfBoundsException}. The arithmetic helpers do the same for sizes computed
 * from header fields: they are {@code long}, overflow-checked, and fail with the field that produced them.
 */
public final class BoundedReader {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final MemorySegment segment;
    private long position;

    BoundedReader(Path file, MemorySegment segment, long position) {
        this.file = file;
        this.segment = segment;
        this.position = position;
    }

    public Path file() {
        return file;
    }

    public long position() {
        return position;
    }

    public long size() {
        return segment.byteSize();
    }

    public long remaining() {
        return segment.byteSize() - position;
    }

    /** Fails unless {@code bytes} more bytes exist at the cursor. */
    public void require(String field, long bytes) {
        if (bytes < 0 || bytes > remaining()) {
            throw error(field, position, "needs " + bytes + " bytes but the file has " + Math.max(0, remaining())
                    + " left (file size " + size() + ")");
        }
    }

    public void skip(String field, long bytes) {
        require(field, bytes);
        position += bytes;
    }

    public int u8(String field) {
        require(field, 1);
        return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, position++));
    }

    public short i16(String field) {
        require(field, 2);
        short v = segment.get(I16, position);
        position += 2;
        return v;
    }

    public int i32(String field) {
        require(field, 4);
        int v = segment.get(I32, position);
        position += 4;
        return v;
    }

    /** An unsigned 32-bit value widened to long. */
    public long u32(String field) {
        return Integer.toUnsignedLong(i32(field));
    }

    public long i64(String field) {
        require(field, 8);
        long v = segment.get(I64, position);
        position += 8;
        return v;
    }

    /**
     * An unsigned 64-bit count or offset. Values at or above 2^63 cannot index any file, so they are refused here
     * instead of turning negative in later arithmetic.
     */
    public long u64(String field) {
        long at = position;
        long v = i64(field);
        if (v < 0) {
            throw error(field, at, "value " + Long.toUnsignedString(v) + " is larger than any file");
        }
        return v;
    }

    public float f32(String field) {
        require(field, 4);
        float v = segment.get(F32, position);
        position += 4;
        return v;
    }

    public double f64(String field) {
        require(field, 8);
        double v = segment.get(F64, position);
        position += 8;
        return v;
    }

    public byte[] bytes(String field, long length) {
        if (length < 0) {
            throw error(field, position, "negative length " + length);
        }
        if (length > Integer.MAX_VALUE - 8) {
            throw error(field, position, "length " + length + " is too long for one field");
        }
        require(field, length);
        byte[] out = new byte[(int) length];
        MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, position, out, 0, out.length);
        position += length;
        return out;
    }

    public String utf8(String field, long length) {
        return new String(bytes(field, length), StandardCharsets.UTF_8);
    }

    // ---- overflow-checked size arithmetic ----

    /** {@code a·b}, or a typed error naming {@code field} when it overflows a long. */
    public long multiply(String field, long at, long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw error(field, at, a + " × " + b + " overflows a 64-bit size");
        }
    }

    public long add(String field, long at, long a, long b) {
        try {
            return Math.addExact(a, b);
        } catch (ArithmeticException e) {
            throw error(field, at, a + " + " + b + " overflows a 64-bit size");
        }
    }

    public ModelFormatException error(String field, long at, String problem) {
        return new ModelFormatException(file, field, at, problem);
    }
}
