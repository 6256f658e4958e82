package dev.gale.models.gguf;

import dev.gale.models.WeightType;
import dev.gale.models.format.BoundedReader;
import dev.gale.models.format.MappedFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses a GGUF file (versions 2 and 3, little endian): header, metadata of every value type (arrays included),
 * tensor descriptions, alignment ({@code general.alignment}, default 32) and the data section. Every count is checked
 * against the bytes left before anything is allocated for it, and every tensor's extent against the data section, so
 * a corrupt file fails with a {@link dev.gale.models.format.ModelFormatException} naming the field and its offset.
 */
public final class GgufReader {
    /** "GGUF" read as a little-endian uint32. */
    public static final int MAGIC = 0x46554747;
    public static final long DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_DIMS. */
    static final int MAX_DIMS = 4;
    /** Arrays of arrays nest at most this deep, so a crafted file cannot exhaust the stack. */
    static final int MAX_NESTING = 4;
    private static final int MIN_TENSOR_INFO = 8 + 4 + 8 + 4 + 8;
    private static final int MIN_KV = 8 + 4 + 1;

    private GgufReader() {
    }

    public static GgufFile read(Path path) {
        try (MappedFile f = MappedFile.open(path)) {
            BoundedReader r = f.reader(0);
            int magic = r.i32("magic");
            if (magic != MAGIC) {
                throw r.error("magic", 0, String.format("0x%08x is not \"GGUF\"", magic));
            }
            long version = r.u32("version");
            if (version != 2 && version != 3) {
                throw r.error("version", 4, "unsupported GGUF version " + version + " (Gale reads 2 and 3)");
            }
            long tensorCount = count(r, "tensor_count", MIN_TENSOR_INFO);
            long kvCount = count(r, "metadata_kv_count", MIN_KV);
            GgufMetadata metadata = new GgufMetadata(path);
            for (long i = 0; i < kvCount; i++) {
                long at = r.position();
                String key = string(r, "metadata[" + i + "].key");
                long typeAt = r.position();
                GgufType type = type(r, key);
                if (!metadata.add(key, value(r, key, type, 0), typeAt)) {
                    throw r.error(key, at, "duplicate metadata key");
                }
            }
            long alignment = alignment(metadata);
            Map<String, GgufTensorInfo> tensors = new LinkedHashMap<>();
            for (long i = 0; i < tensorCount; i++) {
                GgufTensorInfo t = tensorInfo(r, i, alignment);
                if (tensors.putIfAbsent(t.name(), t) != null) {
                    throw r.error(t.name(), t.infoOffset(), "duplicate tensor name");
                }
            }
            long dataStart = r.add("data section", r.position(), r.position(), alignment - 1) / alignment * alignment;
            if (dataStart > f.size()) {
                throw r.error("data section", r.position(), "padding to " + dataStart + " runs past the end of the file ("
                        + f.size() + " bytes)");
            }
            long dataSize = f.size() - dataStart;
            for (GgufTensorInfo t : tensors.values()) {
                if (t.offset() > dataSize || t.byteSize() > dataSize - t.offset()) {
                    throw r.error(t.name(), t.infoOffset(), "data [" + t.offset() + ", +" + t.byteSize()
                            + ") runs past the data section of " + dataSize + " bytes");
                }
            }
            return new GgufFile(path, (int) version, alignment, metadata, tensors, dataStart);
        }
    }

    /** A uint64 count, refused when that many items of at least {@code minBytes} each cannot fit in the file. */
    private static long count(BoundedReader r, String field, long minBytes) {
        long at = r.position();
        long n = r.u64(field);
        if (n > r.remaining() / minBytes) {
            throw r.error(field, at, "count " + n + " cannot fit in the " + r.remaining() + " bytes left");
        }
        return n;
    }

    private static String string(BoundedReader r, String field) {
        long at = r.position();
        long length = r.u64(field + " length");
        if (length > r.remaining()) {
            throw r.error(field, at, "string length " + length + " runs past the end of the file");
        }
        return r.utf8(field, length);
    }

    private static GgufType type(BoundedReader r, String field) {
        long at = r.position();
        long id = r.u32(field + " type");
        GgufType t = GgufType.ofId(id);
        if (t == null) {
            throw r.error(field, at, "unknown value type " + id);
        }
        return t;
    }

    private static GgufValue value(BoundedReader r, String key, GgufType type, int depth) {
        Object v = switch (type) {
            case UINT8 -> (long) r.u8(key);
            case INT8 -> (long) (byte) r.u8(key);
            case UINT16 -> (long) Short.toUnsignedInt(r.i16(key));
            case INT16 -> (long) r.i16(key);
            case UINT32 -> r.u32(key);
            case INT32 -> (long) r.i32(key);
            case UINT64, INT64 -> r.i64(key);
            case FLOAT32 -> r.f32(key);
            case FLOAT64 -> r.f64(key);
            case BOOL -> bool(r, key);
            case STRING -> string(r, key);
            case ARRAY -> array(r, key, depth);
        };
        return new GgufValue(type, v);
    }

    private static Boolean bool(BoundedReader r, String key) {
        long at = r.position();
        int b = r.u8(key);
        if (b > 1) {
            throw r.error(key, at, "BOOL is " + b + ", not 0 or 1");
        }
        return b == 1;
    }

    private static GgufValue.GgufArray array(BoundedReader r, String key, int depth) {
        long at = r.position();
        if (depth >= MAX_NESTING) {
            throw r.error(key, at, "arrays nest deeper than " + MAX_NESTING);
        }
        GgufType element = type(r, key + " element");
        long n = count(r, key + " count", element.minBytes());
        if (n > Integer.MAX_VALUE - 8) {
            throw r.error(key, at, "array of " + n + " elements is too long");
        }
        List<Object> values = new ArrayList<>((int) n);
        for (long i = 0; i < n; i++) {
            values.add(value(r, key, element, depth + 1).value());
        }
        return new GgufValue.GgufArray(element, values);
    }

    private static long alignment(GgufMetadata m) {
        long a = m.integer("general.alignment", 1, 1L << 30, DEFAULT_ALIGNMENT);
        if (Long.bitCount(a) != 1) {
            throw m.error("general.alignment", "alignment " + a + " is not a power of two");
        }
        return a;
    }

    private static GgufTensorInfo tensorInfo(BoundedReader r, long i, long alignment) {
        long at = r.position();
        String name = string(r, "tensor[" + i + "].name");
        long dimsAt = r.position();
        long nDims = r.u32(name + " n_dims");
        if (nDims < 1 || nDims > MAX_DIMS) {
            throw r.error(name + " n_dims", dimsAt, nDims + " dimensions; GGUF allows 1.." + MAX_DIMS);
        }
        long[] dims = new long[(int) nDims];
        long elements = 1;
        for (int d = 0; d < dims.length; d++) {
            long dAt = r.position();
            dims[d] = r.u64(name + " dims[" + d + "]");
            if (dims[d] < 1) {
                throw r.error(name + " dims[" + d + "]", dAt, "dimension " + dims[d] + " must be positive");
            }
            elements = r.multiply(name + " dims", dAt, elements, dims[d]);
        }
        long typeAt = r.position();
        long typeId = r.u32(name + " type");
        WeightType type = WeightType.ofGgmlId(typeId);
        if (type == null) {
            throw r.error(name + " type", typeAt, "ggml type " + typeId + " is not supported (F32, F16, Q8_0, Q4_0)");
        }
        if (dims[0] % type.blockSize() != 0) {
            throw r.error(name + " dims[0]", dimsAt + 4, "row length " + dims[0] + " is not a multiple of the " + type
                    + " block size " + type.blockSize());
        }
        r.multiply(name + " size", dimsAt, elements / type.blockSize(), type.blockBytes());
        long offsetAt = r.position();
        long offset = r.u64(name + " offset");
        if (offset % alignment != 0) {
            throw r.error(name + " offset", offsetAt, "offset " + offset + " is not a multiple of the alignment "
                    + alignment);
        }
        return new GgufTensorInfo(name, dims, type, offset, at);
    }
}
