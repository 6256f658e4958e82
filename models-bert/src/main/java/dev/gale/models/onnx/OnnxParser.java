package dev.gale.models.onnx;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The message-level half of the ONNX reader: which field numbers of {@code ModelProto}, {@code GraphProto},
 * {@code NodeProto}, {@code AttributeProto} and {@code TensorProto} Gale reads (the rest is skipped, as protobuf
 * allows), and the checks that make a parsed tensor safe to read: a known rank, non-negative dims whose product does
 * not overflow, and stored data whose size matches the shape.
 */
final class OnnxParser {
    /** ONNX allows any rank; no real model comes near this, and it bounds the dims array a corrupt file can ask for. */
    private static final int MAX_RANK = 32;

    private OnnxParser() {
    }

    static OnnxModel model(MemorySegment bytes, String source) {
        ProtoReader r = new ProtoReader(bytes, source, "ModelProto", 0, bytes.byteSize());
        long ir = -1;
        String producer = "";
        String producerVersion = "";
        long opset = 0;
        Graph graph = null;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> ir = r.readVarint("ir_version");
                case 2 -> producer = r.readString("producer_name");
                case 3 -> producerVersion = r.readString("producer_version");
                case 7 -> {
                    if (graph != null) {
                        throw r.error("graph", r.keyOffset(), "a second graph");
                    }
                    graph = graph(r.readMessage("graph"));
                }
                case 8 -> {
                    ProtoReader o = r.readMessage("opset_import");
                    String domain = "";
                    long version = 0;
                    while (o.next()) {
                        switch (o.field()) {
                            case 1 -> domain = o.readString("domain");
                            case 2 -> version = o.readVarint("version");
                            default -> o.skip();
                        }
                    }
                    if (domain.isEmpty() || domain.equals("ai.onnx")) {
                        opset = version;
                    }
                }
                default -> r.skip();
            }
        }
        if (ir < 1) {
            // Every ONNX file starts with ir_version; a file without one is almost surely not ONNX at all.
            throw new OnnxFormatException(source, "ModelProto.ir_version", ir < 0 ? -1 : 0,
                    ir < 0 ? "missing: not an ONNX model" : "is " + ir);
        }
        if (graph == null) {
            throw new OnnxFormatException(source, "ModelProto.graph", -1, "missing");
        }
        return new OnnxModel(source, ir, producer, producerVersion, opset, graph.nodes, graph.initializers,
                graph.inputs, graph.outputs);
    }

    private record Graph(List<Node> nodes, Map<String, Tensor> initializers, List<String> inputs,
            List<String> outputs) {
    }

    private static Graph graph(ProtoReader r) {
        List<Node> nodes = new ArrayList<>();
        Map<String, Tensor> inits = new LinkedHashMap<>();
        Set<String> inputs = new LinkedHashSet<>();
        List<String> outputs = new ArrayList<>();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> nodes.add(node(r.readMessage("node[" + nodes.size() + "]"), nodes.size()));
                case 5 -> {
                    long at = r.keyOffset();
                    Tensor t = tensor(r.readMessage("initializer[" + inits.size() + "]"));
                    if (inits.putIfAbsent(t.name(), t) != null) {
                        throw r.error("initializer", at, "duplicate name '" + t.name() + "'");
                    }
                }
                case 11 -> inputs.add(valueName(r.readMessage("input")));
                case 12 -> outputs.add(valueName(r.readMessage("output")));
                default -> r.skip();
            }
        }
        inputs.removeAll(inits.keySet());
        return new Graph(List.copyOf(nodes), Collections.unmodifiableMap(inits), List.copyOf(inputs),
                List.copyOf(outputs));
    }

    private static String valueName(ProtoReader r) {
        String name = "";
        while (r.next()) {
            if (r.field() == 1) {
                name = r.readString("name");
            } else {
                r.skip();
            }
        }
        return name;
    }

    private static Node node(ProtoReader r, int index) {
        long at = r.pos();
        List<String> in = new ArrayList<>();
        List<String> out = new ArrayList<>();
        String name = "";
        String op = "";
        String domain = "";
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> in.add(r.readString("input"));
                case 2 -> out.add(r.readString("output"));
                case 3 -> name = r.readString("name");
                case 4 -> op = r.readString("op_type");
                case 7 -> domain = r.readString("domain");
                case 5 -> {
                    Attribute a = attribute(r.readMessage("attribute"));
                    attrs.put(a.name(), a);
                }
                default -> r.skip();
            }
        }
        if (op.isEmpty()) {
            throw r.error("op_type", at, "missing");
        }
        return new Node(index, name, op, domain, List.copyOf(in), List.copyOf(out), Collections.unmodifiableMap(attrs),
                at);
    }

    private static Attribute attribute(ProtoReader r) {
        String name = "";
        int type = 0;
        float f = 0;
        long i = 0;
        String s = null;
        Tensor t = null;
        LongList ints = new LongList();
        List<Float> floats = new ArrayList<>();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> name = r.readString("name");
                case 2 -> f = r.readFixed32Float("f");
                case 3 -> i = r.readVarint("i");
                case 4 -> s = r.readString("s");
                case 5 -> t = tensor(r.readMessage("t"));
                case 7 -> {
                    long[] span = r.readPacked32("floats");
                    for (long k = 0; k < span[1]; k++) {
                        floats.add(r.data().get(ProtoReader.F32_LE, span[0] + 4 * k));
                    }
                }
                case 8 -> r.readVarints("ints", ints::add);
                case 20 -> type = r.readInt("type", 64);
                default -> r.skip();
            }
        }
        float[] fl = new float[floats.size()];
        for (int k = 0; k < fl.length; k++) {
            fl[k] = floats.get(k);
        }
        return new Attribute(name, type, f, i, s, ints.toArray(), fl, t);
    }

    static Tensor tensor(ProtoReader r) {
        long at = r.pos();
        LongList dims = new LongList();
        int dataType = 0;
        String name = "";
        long[] raw = null;
        List<long[]> floatParts = null;
        LongList ints = null;
        String intsField = null;
        boolean external = false;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> {
                    r.readVarints("dims", dims::add);
                    if (dims.size > MAX_RANK) {
                        throw r.error("dims", r.keyOffset(), "rank above " + MAX_RANK);
                    }
                }
                case 2 -> dataType = r.readInt("data_type", 64);
                case 4 -> {
                    if (floatParts == null) {
                        floatParts = new ArrayList<>();
                    }
                    floatParts.add(r.readPacked32("float_data"));
                }
                case 5, 7 -> {
                    intsField = r.field() == 5 ? "int32_data" : "int64_data";
                    if (ints == null) {
                        ints = new LongList();
                    }
                    r.readVarints(intsField, ints::add);
                }
                case 8 -> name = r.readString("name");
                case 9 -> {
                    if (raw != null) {
                        throw r.error("raw_data", r.keyOffset(), "given twice");
                    }
                    raw = r.readBytes("raw_data");
                }
                case 14 -> external = r.readVarint("data_location") == 1;
                default -> r.skip();
            }
        }
        String field = "TensorProto '" + name + "'";
        MemorySegment floatData = floatParts == null ? null : floats(r, floatParts);
        if (external) {
            throw r.error(field + ".data_location", at, "external data files are not supported");
        }
        long n = 1;
        for (int k = 0; k < dims.size; k++) {
            long d = dims.data[k];
            if (d < 0) {
                throw r.error(field + ".dims", at, "dimension " + k + " is " + d);
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw r.error(field + ".dims", at, "element count overflows: " + Arrays.toString(dims.toArray()));
            }
        }
        int stores = (raw != null ? 1 : 0) + (floatData != null ? 1 : 0) + (ints != null ? 1 : 0);
        if (stores > 1) {
            throw r.error(field, at, "data given in more than one of raw_data, float_data, int32_data/int64_data");
        }
        OnnxDataType type = OnnxDataType.of(dataType);
        MemorySegment data = null;
        if (raw != null) {
            if (type != null && raw[1] != n * type.bytes()) {
                throw r.error(field + ".raw_data", raw[0], raw[1] + " bytes for " + n + " elements of " + type);
            }
            data = r.data().asSlice(raw[0], raw[1]);
        } else if (floatData != null) {
            long fat = floatParts.get(0)[0];
            if (type != OnnxDataType.FLOAT) {
                throw r.error(field + ".float_data", fat, "float_data in a tensor of type code " + dataType);
            }
            if (floatData.byteSize() / 4 != n) {
                throw r.error(field + ".float_data", fat, floatData.byteSize() / 4 + " floats for " + n + " elements");
            }
            data = floatData;
        } else if (ints != null) {
            if (ints.size != n) {
                throw r.error(field + "." + intsField, at, ints.size + " values for " + n + " elements");
            }
        } else if (n != 0 && type != null) {
            throw r.error(field, at, "no data for " + n + " elements");
        }
        return new Tensor(name, dataType, dims.toArray(), data, ints == null ? null : ints.toArray(), r.source(), at);
    }

    /**
     * float_data as {@code {offset, count}}: one packed run stays a slice of the file; anything else (one key per
     * value, or several runs — legal protobuf, never written by ONNX exporters) is gathered into a fresh little-endian
     * buffer, whose size the runs' own bytes bound.
     */
    private static MemorySegment floats(ProtoReader r, List<long[]> parts) {
        if (parts.size() == 1) {
            return r.data().asSlice(parts.get(0)[0], 4 * parts.get(0)[1]);
        }
        long count = 0;
        for (long[] p : parts) {
            count += p[1];
        }
        if (4 * count > Integer.MAX_VALUE - 8) {
            throw r.error("float_data", parts.get(0)[0], count + " unpacked floats do not fit one buffer");
        }
        MemorySegment gathered = MemorySegment.ofArray(new byte[(int) (4 * count)]);
        long k = 0;
        for (long[] p : parts) {
            MemorySegment.copy(r.data(), p[0], gathered, 4 * k, 4 * p[1]);
            k += p[1];
        }
        return gathered;
    }

    /** A growable long array (dims and varint data; its size is bounded by the bytes that encode it). */
    static final class LongList {
        long[] data = new long[4];
        int size;

        void add(long v) {
            if (size == data.length) {
                data = Arrays.copyOf(data, size * 2);
            }
            data[size++] = v;
        }

        long[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }
}
