package dev.gale.models.onnx;

import dev.gale.core.GaleException;

/**
 * An ONNX file that cannot be read: truncated, corrupt, not ONNX, or not the model the caller expects. The message
 * names the source, the protobuf field at fault (a path such as {@code ModelProto.graph/GraphProto.initializer[3]
 * /TensorProto.raw_data}) and its byte offset in the file ({@code -1} when the problem has no single offset, such as a
 * missing field).
 */
public final class OnnxFormatException extends GaleException {
    private final String source;
    private final String field;
    private final long offset;

    public OnnxFormatException(String source, String field, long offset, String problem) {
        super("ONNX " + source + ": " + field + (offset >= 0 ? " at byte " + offset : "") + ": " + problem);
        this.source = source;
        this.field = field;
        this.offset = offset;
    }

    public String source() {
        return source;
    }

    public String field() {
        return field;
    }

    public long offset() {
        return offset;
    }
}
