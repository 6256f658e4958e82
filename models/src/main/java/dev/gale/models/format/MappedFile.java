package dev.gale.models.format;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffers;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A whole file mapped read-only for parsing headers. Parsers read through {@link #reader} so that every access is
 * checked against the file size before it happens; the mapping is released on {@link #close()}. Tensor data is
 * mapped separately (per tensor, through {@code Buffers.map}) so weights outlive the parse.
 */
public final class MappedFile implements AutoCloseable {
    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;

    private MappedFile(Path path, Arena arena, MemorySegment segment) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
    }

    public static MappedFile open(Path path) {
        Arena arena = Arena.ofConfined();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            // A plain native segment, like every Gale buffer (see Buffers.asNative): parsers and kernels share the
            // JDK's accessor code, and a second segment class there slows the kernels.
            return new MappedFile(path, arena, Buffers.asNative(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(),
                    arena), arena));
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw new GaleException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    public long size() {
        return segment.byteSize();
    }

    public MemorySegment segment() {
        return segment;
    }

    /** A cursor at byte {@code position}. */
    public BoundedReader reader(long position) {
        return new BoundedReader(path, segment, position);
    }

    @Override
    public void close() {
        arena.close();
    }
}
