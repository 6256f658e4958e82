package dev.gale.models.gguf;

import dev.gale.models.format.ModelFormatException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The metadata of a GGUF file that was read: values in file order, and where each was read, so that a value of the
 * wrong type or range fails naming the key and its byte offset.
 */
public final class GgufMetadata {
    private final Path file;
    private final Map<String, GgufValue> values = new LinkedHashMap<>();
    private final Map<String, Long> offsets = new LinkedHashMap<>();

    GgufMetadata(Path file) {
        this.file = file;
    }

    /** Adds a value read at {@code offset}; false when the key was already present. */
    boolean add(String key, GgufValue value, long offset) {
        if (values.putIfAbsent(key, value) != null) {
            return false;
        }
        offsets.put(key, offset);
        return true;
    }

    public Map<String, GgufValue> values() {
        return Collections.unmodifiableMap(values);
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    /** Offset of the value of {@code key} in the file, or -1. */
    public long offset(String key) {
        return offsets.getOrDefault(key, -1L);
    }

    public GgufValue get(String key) {
        GgufValue v = values.get(key);
        if (v == null) {
            throw error(key, "required key is missing");
        }
        return v;
    }

    /** An integer of any GGUF integer type, checked to lie in {@code [min, max]}. */
    public long integer(String key, long min, long max) {
        GgufValue v = get(key);
        if (!v.type().isInteger()) {
            throw error(key, "expected an integer, found " + v.type());
        }
        long x = (Long) v.value();
        if (x < min || x > max || (v.type() == GgufType.UINT64 && x < 0)) {
            throw error(key, "value " + (v.type() == GgufType.UINT64 ? Long.toUnsignedString(x) : x)
                    + " is outside " + min + ".." + max);
        }
        return x;
    }

    public long integer(String key, long min, long max, long absent) {
        return has(key) ? integer(key, min, max) : absent;
    }

    public float float32(String key, float absent) {
        if (!has(key)) {
            return absent;
        }
        GgufValue v = get(key);
        return switch (v.type()) {
            case FLOAT32 -> (Float) v.value();
            case FLOAT64 -> (float) (double) (Double) v.value();
            default -> throw error(key, "expected FLOAT32, found " + v.type());
        };
    }

    public String string(String key) {
        GgufValue v = get(key);
        if (v.type() != GgufType.STRING) {
            throw error(key, "expected STRING, found " + v.type());
        }
        return (String) v.value();
    }

    /** An array whose elements are of type {@code element}. */
    public GgufValue.GgufArray array(String key, GgufType element) {
        GgufValue v = get(key);
        if (v.type() != GgufType.ARRAY || ((GgufValue.GgufArray) v.value()).elementType() != element) {
            throw error(key, "expected an ARRAY of " + element + ", found " + (v.type() == GgufType.ARRAY
                    ? "an ARRAY of " + ((GgufValue.GgufArray) v.value()).elementType() : v.type()));
        }
        return (GgufValue.GgufArray) v.value();
    }

    public ModelFormatException error(String key, String problem) {
        return new ModelFormatException(file, key, offset(key), problem);
    }
}
