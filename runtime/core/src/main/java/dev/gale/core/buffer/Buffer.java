package dev.gale.core.buffer;

import dev.gale.core.BufferStateException;
import dev.gale.core.GaleException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A header-free run of elements of one dtype in native memory: a {@link MemorySegment}, a dtype and a {@code long}
 * length. Slices are views that share the parent's memory and lifetime. Closing any view frees the memory for all of
 * them, and is refused while a plan's bindings still hold the buffer.
 *
 * <p>Element accessors here are for tests, loaders and glue code; kernels take {@link #segment()} once per launch and
 * index it themselves.
 */
public final class Buffer implements AutoCloseable {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String name;
    private final MemorySegment segment;
    private final DType dtype;
    private final long length;
    private final long elementOffset;
    private final Lifetime lifetime;

    Buffer(String name, MemorySegment segment, DType dtype, long length, long elementOffset, Lifetime lifetime) {
        this.name = name;
        this.segment = segment;
        this.dtype = dtype;
        this.length = length;
        this.elementOffset = elementOffset;
        this.lifetime = lifetime;
    }

    public String name() {
        return name;
    }

    public DType dtype() {
        return dtype;
    }

    /** Number of elements. */
    public long length() {
        return length;
    }

    public long byteSize() {
        return segment.byteSize();
    }

    /** The memory, checked to be still open. */
    public MemorySegment segment() {
        lifetime.checkOpen(name);
        return segment;
    }

    public boolean isOpen() {
        return !lifetime.closed;
    }

    /** Where this buffer's memory came from (arena, mapped file, Arrow), for reports. */
    public String origin() {
        return lifetime.origin;
    }

    /** A view of {@code count} elements starting at element {@code offset}. Q4 views must start on a byte. */
    public Buffer slice(long offset, long count) {
        if (offset < 0 || count < 0 || offset > length || count > length - offset) {
            throw new SliceOutOfRangeException("slice [" + offset + ", " + offset + "+" + count + ") is outside buffer '"
                    + name + "' of " + length + " " + dtype + " elements");
        }
        if (dtype == DType.Q4 && (offset & 1) != 0) {
            throw new SliceOutOfRangeException("slice of Q4 buffer '" + name + "' starts at odd element " + offset
                    + "; Q4 views must start on a whole byte");
        }
        long byteOffset = dtype.byteSize(offset);
        MemorySegment view = segment().asSlice(byteOffset, Math.min(dtype.byteSize(count), segment.byteSize() - byteOffset));
        return new Buffer(name + "[" + offset + ":" + (offset + count) + "]", view, dtype, count,
                elementOffset + offset, lifetime);
    }

    /**
     * A view of {@code count} elements of another dtype starting {@code byteOffset} bytes into this buffer, sharing
     * its lifetime: how a file of several typed sections (a KV-cache snapshot, a model) is seen without copying.
     */
    public Buffer viewAs(String viewName, DType viewType, long byteOffset, long count) {
        long bytes = viewType.byteSize(count);
        if (byteOffset < 0 || count < 0 || byteOffset > byteSize() || bytes > byteSize() - byteOffset) {
            throw new SliceOutOfRangeException("view '" + viewName + "' of " + bytes + " bytes at byte " + byteOffset
                    + " is outside buffer '" + name + "' of " + byteSize() + " bytes");
        }
        return new Buffer(viewName, segment().asSlice(byteOffset, bytes), viewType, count, 0, lifetime);
    }

    /**
     * A view of the same memory that refuses writes made through it. Data that never changes once built (weights,
     * their repacked layouts) is bound this way, so a device backend that copies buffers to its own memory copies
     * such a buffer once rather than before every launch ({@link MemorySegment#isReadOnly()} tells it).
     */
    public Buffer readOnly() {
        MemorySegment s = segment();
        return s.isReadOnly() ? this : new Buffer(name, s.asReadOnly(), dtype, length, elementOffset, lifetime);
    }

    /** A tensor view with a contiguous row-major shape over the start of this buffer. */
    public Tensor view(long... shape) {
        return new Tensor(this, TensorDesc.of(dtype, shape));
    }

    // ---- element access for tests and glue code ----

    public float getFloat(long i) {
        checkIndex(i);
        MemorySegment s = segment();
        return switch (dtype) {
            case F32 -> s.getAtIndex(F32, i);
            case F16 -> Float.float16ToFloat(s.getAtIndex(I16, i));
            case BF16 -> Float.intBitsToFloat(s.getAtIndex(I16, i) << 16);
            case I8 -> s.get(ValueLayout.JAVA_BYTE, i);
            case U8 -> Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, i));
            case I32 -> s.getAtIndex(I32, i);
            case Q4 -> getNibble(s, i);
        };
    }

    public void setFloat(long i, float v) {
        checkIndex(i);
        MemorySegment s = segment();
        switch (dtype) {
            case F32 -> s.setAtIndex(F32, i, v);
            case F16 -> s.setAtIndex(I16, i, Float.floatToFloat16(v));
            case BF16 -> s.setAtIndex(I16, i, FloatConversions.floatToBf16(v));
            case I8 -> s.set(ValueLayout.JAVA_BYTE, i, (byte) Math.round(v));
            case U8 -> s.set(ValueLayout.JAVA_BYTE, i, (byte) Math.round(v));
            case I32 -> s.setAtIndex(I32, i, Math.round(v));
            case Q4 -> setNibble(s, i, Math.round(v));
        }
    }

    public int getInt(long i) {
        checkIndex(i);
        MemorySegment s = segment();
        return switch (dtype) {
            case I8 -> s.get(ValueLayout.JAVA_BYTE, i);
            case U8 -> Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, i));
            case I32 -> s.getAtIndex(I32, i);
            case Q4 -> getNibble(s, i);
            default -> throw new GaleException("getInt on " + dtype + " buffer '" + name + "'");
        };
    }

    public void setInt(long i, int v) {
        checkIndex(i);
        MemorySegment s = segment();
        switch (dtype) {
            case I8, U8 -> s.set(ValueLayout.JAVA_BYTE, i, (byte) v);
            case I32 -> s.setAtIndex(I32, i, v);
            case Q4 -> setNibble(s, i, v);
            default -> throw new GaleException("setInt on " + dtype + " buffer '" + name + "'");
        }
    }

    /** Copies the elements to a new float array (converting as {@link #getFloat}). */
    public float[] toFloatArray() {
        if (length > Integer.MAX_VALUE - 8) {
            throw new GaleException("buffer '" + name + "' has " + length + " elements, too many for a Java array");
        }
        float[] out = new float[(int) length];
        if (dtype == DType.F32) {
            MemorySegment.copy(segment(), F32, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = getFloat(i);
            }
        }
        return out;
    }

    /** Copies from a float array (converting as {@link #setFloat}). */
    public Buffer copyFrom(float[] values) {
        if (values.length != length) {
            throw new dev.gale.core.ShapeMismatchException("copying " + values.length + " floats into buffer '" + name
                    + "' of " + length + " " + dtype + " elements");
        }
        if (dtype == DType.F32) {
            MemorySegment.copy(values, 0, segment(), F32, 0, values.length);
        } else {
            for (int i = 0; i < values.length; i++) {
                setFloat(i, values[i]);
            }
        }
        return this;
    }

    private static int getNibble(MemorySegment s, long i) {
        int b = s.get(ValueLayout.JAVA_BYTE, i >>> 1);
        return (i & 1) == 0 ? b & 0xF : (b >>> 4) & 0xF;
    }

    private static void setNibble(MemorySegment s, long i, int v) {
        long at = i >>> 1;
        int b = s.get(ValueLayout.JAVA_BYTE, at);
        int n = v & 0xF;
        b = (i & 1) == 0 ? (b & 0xF0) | n : (b & 0x0F) | (n << 4);
        s.set(ValueLayout.JAVA_BYTE, at, (byte) b);
    }

    private void checkIndex(long i) {
        if (i < 0 || i >= length) {
            throw new SliceOutOfRangeException("index " + i + " is outside buffer '" + name + "' of " + length
                    + " " + dtype + " elements");
        }
    }

    // ---- lifetime ----

    /**
     * Records that {@code user} (a plan's bindings) holds this buffer; {@link #close()} is refused until released.
     */
    public void retain(String user) {
        lifetime.retain(name, user);
    }

    public void release(String user) {
        lifetime.release(user);
    }

    /** Frees the memory of this buffer and of every view of it. Idempotent. */
    @Override
    public void close() {
        lifetime.close(name);
    }

    @Override
    public String toString() {
        return "Buffer '" + name + "' " + dtype + "[" + length + "] (" + lifetime.origin + (isOpen() ? "" : ", closed")
                + ")";
    }
}
