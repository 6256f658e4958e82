package dev.gale.models.onnx;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX model read for its weights and its node list: {@code ModelProto} → {@code GraphProto} → initializers and
 * nodes. Tensor data stays in the file's bytes (a mapped file or a heap array) until an initializer's elements are
 * asked for.
 *
 * @param opset        the default-domain opset version (0 if absent)
 * @param nodes        in graph order, which ONNX requires to be topological
 * @param initializers by name, in file order
 * @param inputs       the graph input names, initializers excluded
 */
public record OnnxModel(String source, long irVersion, String producerName, String producerVersion, long opset,
        List<Node> nodes, Map<String, Tensor> initializers, List<String> inputs, List<String> outputs) {

    /** Maps the file read-only; the mapping lives as long as the returned model (and its tensors) are reachable. */
    public static OnnxModel read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), Arena.ofAuto());
            return parse(seg, file.toString());
        }
    }

    /** Reads the whole stream into memory (for a model packaged as a class-path resource). */
    public static OnnxModel read(InputStream in, String source) throws IOException {
        return parse(MemorySegment.ofArray(in.readAllBytes()), source);
    }

    /** Parses a whole {@code ModelProto}; any malformation is an {@link OnnxFormatException}. */
    public static OnnxModel parse(MemorySegment bytes, String source) {
        return OnnxParser.model(bytes, source);
    }

    /** The initializer with this name; an {@link OnnxFormatException} naming it if absent. */
    public Tensor initializer(String name) {
        Tensor t = initializers.get(name);
        if (t == null) {
            throw new OnnxFormatException(source, "GraphProto.initializer '" + name + "'", -1, "missing");
        }
        return t;
    }

    /** The nodes with this op type, in graph order. */
    public List<Node> nodes(String opType) {
        List<Node> out = new ArrayList<>();
        for (Node n : nodes) {
            if (n.opType().equals(opType)) {
                out.add(n);
            }
        }
        return out;
    }

    /** Which node produces each value name. */
    public Map<String, Node> producers() {
        Map<String, Node> out = new LinkedHashMap<>();
        for (Node n : nodes) {
            for (String o : n.outputs()) {
                out.put(o, n);
            }
        }
        return out;
    }

    /** The nodes that read each value name. */
    public Map<String, List<Node>> consumers() {
        Map<String, List<Node>> out = new LinkedHashMap<>();
        for (Node n : nodes) {
            for (String i : n.inputs()) {
                out.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
            }
        }
        return out;
    }
}
