package dev.gale.models.gguf;

import dev.gale.core.buffer.Buffers;
import dev.gale.models.WeightTensor;
import dev.gale.models.format.ModelFormatException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;

/**
 * A parsed GGUF file: metadata and tensor descriptions, all validated against the file size. Tensor data is mapped on
 * demand by {@link #map}; the caller owns (and closes) each mapped buffer.
 *
 * @param dataStart byte offset of the data section (after the aligned header)
 */
public record GgufFile(Path path, int version, long alignment, GgufMetadata metadata,
        Map<String, GgufTensorInfo> tensors, long dataStart) {
    public GgufFile {
        tensors = Collections.unmodifiableMap(tensors);
    }

    public GgufTensorInfo tensor(String name) {
        GgufTensorInfo t = tensors.get(name);
        if (t == null) {
            throw new ModelFormatException(path, name, -1, "tensor is missing");
        }
        return t;
    }

    /** The tensor's data mapped read-only (zero copy). */
    public WeightTensor map(String name) {
        GgufTensorInfo t = tensor(name);
        long length = t.type().bufferLength(t.elements());
        return new WeightTensor(name, t.type(), t.shape(),
                Buffers.map(path, t.type().bufferType(), dataStart + t.offset(), length, false));
    }
}
