package dev.gale.kvcache;

import dev.gale.core.GaleException;
import java.nio.file.Path;

/**
 * A KV-cache file that cannot be used: corrupt, truncated, written for another model or precision. The message names
 * the file, the field at fault and its byte offset ({@code -1} when the field has no single offset, such as a
 * checksum over the whole file).
 */
public final class KvCacheFileException extends GaleException {
    private final Path file;
    private final String field;
    private final long offset;

    public KvCacheFileException(Path file, String field, long offset, String problem) {
        this(file, field, offset, problem, null);
    }

    public KvCacheFileException(Path file, String field, long offset, String problem, Throwable cause) {
        super("KV cache file " + file + ": " + field + (offset >= 0 ? " at byte " + offset : "") + ": " + problem,
                cause);
        this.file = file;
        this.field = field;
        this.offset = offset;
    }

    public Path file() {
        return file;
    }

    public String field() {
        return field;
    }

    public long offset() {
        return offset;
    }
}
