package dev.gale.models.format;

import dev.gale.core.GaleException;
import java.nio.file.Path;

/**
 * A model or tokenizer file that cannot be what it claims to be: a bad magic, a field out of range, a count or offset
 * that runs past the end of the file. Unchecked like every {@link GaleException}; the message always names the file,
 * the field and the byte offset where the bad value was read, so a user can inspect it with a hex dump.
 */
public final class ModelFormatException extends GaleException {
    private final Path file;
    private final String field;
    private final long offset;

    public ModelFormatException(Path file, String field, long offset, String problem) {
        this(file, field, offset, problem, null);
    }

    public ModelFormatException(Path file, String field, long offset, String problem, Throwable cause) {
        super(file + ": field '" + field + "' at byte " + offset + ": " + problem, cause);
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

    /** Byte offset in the file where the offending field starts. */
    public long offset() {
        return offset;
    }
}
