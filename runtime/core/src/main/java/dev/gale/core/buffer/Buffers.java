package dev.gale.core.buffer;

import dev.gale.core.GaleException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/** Where buffers come from: a shared arena, a memory-mapped file, or Apache Arrow memory (wrapped zero-copy). */
public final class Buffers {
    /** Cache-line and AVX-512 alignment for freshly allocated memory. */
    public static final long ALIGNMENT = 64;

    private Buffers() {
    }

    /** Zeroed native memory owned by the returned buffer; any thread may use it. */
    public static Buffer allocate(String name, DType dtype, long count) {
        long bytes = dtype.byteSize(count);
        Arena arena = Arena.ofShared();
        MemorySegment segment;
        try {
            segment = arena.allocate(Math.max(bytes, 1), ALIGNMENT).asSlice(0, bytes);
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            arena.close();
            throw new GaleException("cannot allocate buffer '" + name + "': " + count + " " + dtype + " elements ("
                    + bytes + " bytes): " + e.getMessage(), e);
        }
        return new Buffer(name, segment, dtype, count, 0, new Lifetime("arena", arena::close));
    }

    public static Buffer f32(String name, float... values) {
        return allocate(name, DType.F32, values.length).copyFrom(values);
    }

    /**
     * The same memory, scope and read-only flag as a plain native segment. The JDK's mapped segments are another
     * {@code MemorySegment} class; once the Vector API's loads have seen two classes, C2 compiles every kernel's
     * loads for both (the profile lives in JDK code all kernels inline), and a kernel run after that in the same JVM
     * is slower. Gale does not use what mapped segments add ({@code force}, {@code load}), so all its buffers are
     * one class. {@code arena} must be the mapping's: the view lives and dies with it.
     */
    public static MemorySegment asNative(MemorySegment mapped, Arena arena) {
        MemorySegment s = MemorySegment.ofAddress(mapped.address()).reinterpret(mapped.byteSize(), arena, null);
        return mapped.isReadOnly() ? s.asReadOnly() : s;
    }

    /**
     * Maps {@code count} elements of a file starting at {@code byteOffset}. Read-only mappings are for weights;
     * writing to them throws.
     */
    public static Buffer map(Path file, DType dtype, long byteOffset, long count, boolean writable) {
        long bytes = dtype.byteSize(count);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = writable
                ? FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)
                : FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (byteOffset < 0 || bytes > size - byteOffset) {
                arena.close();
                throw new SliceOutOfRangeException("file " + file + " has " + size + " bytes; cannot map " + bytes
                        + " bytes (" + count + " " + dtype + ") at offset " + byteOffset);
            }
            MemorySegment seg = asNative(ch.map(writable ? FileChannel.MapMode.READ_WRITE
                    : FileChannel.MapMode.READ_ONLY, byteOffset, bytes, arena), arena);
            return new Buffer(file.getFileName() + "@" + byteOffset, seg, dtype, count, 0,
                    new Lifetime("mapped " + file, arena::close));
        } catch (IOException e) {
            arena.close();
            throw new GaleException("cannot map " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Maps a whole file copy-on-write: writes change this process's pages only, never the file, so a saved state can
     * be resumed and extended in place while the file stays as it was written. (The JDK requires a channel opened
     * for writing to map privately, so the file must be writable although it is never written.)
     */
    public static Buffer mapCopyOnWrite(Path file) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long size = ch.size();
            MemorySegment seg = asNative(ch.map(FileChannel.MapMode.PRIVATE, 0, size, arena), arena);
            return new Buffer(file.getFileName().toString(), seg, DType.U8, size, 0,
                    new Lifetime("mapped copy-on-write " + file, arena::close));
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw new GaleException("cannot map " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Views an Arrow buffer as a Gale buffer without copying. The Arrow buffer gains a reference, released when the
     * Gale buffer is closed, so either side may be closed first.
     */
    public static Buffer wrapArrow(String name, ArrowBuf arrow, DType dtype) {
        long bytes = arrow.capacity();
        long count = dtype == DType.Q4 ? bytes * 2 : bytes / (dtype.bits() / 8);
        arrow.getReferenceManager().retain();
        MemorySegment seg = MemorySegment.ofAddress(arrow.memoryAddress()).reinterpret(bytes);
        return new Buffer(name, seg, dtype, count, 0,
                new Lifetime("arrow", () -> arrow.getReferenceManager().release()));
    }

    /** Zeroed memory from an Arrow allocator, so Arrow's accounting and limits apply to it. */
    public static Buffer allocateArrow(BufferAllocator allocator, String name, DType dtype, long count) {
        long bytes = dtype.byteSize(count);
        ArrowBuf buf;
        try {
            buf = allocator.buffer(bytes);
        } catch (RuntimeException e) {
            throw new GaleException("Arrow allocator '" + allocator.getName() + "' cannot give buffer '" + name + "' "
                    + bytes + " bytes (limit " + allocator.getLimit() + ", allocated "
                    + allocator.getAllocatedMemory() + "): " + e.getMessage(), e);
        }
        buf.setZero(0, bytes);
        Buffer b = wrapArrow(name, buf, dtype);
        buf.getReferenceManager().release(); // the Gale buffer now owns the only reference
        return b.length() == count ? b : b.slice(0, count);
    }
}
