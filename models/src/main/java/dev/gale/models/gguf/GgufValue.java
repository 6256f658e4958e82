package dev.gale.models.gguf;

import java.util.List;

/**
 * One metadata value with its GGUF type, so that a file read and written back keeps its types. Integers of every
 * width are held as {@link Long} (UINT64 as its bit pattern), FLOAT32 as {@link Float}, FLOAT64 as {@link Double},
 * BOOL as {@link Boolean}, STRING as {@link String}, ARRAY as {@link GgufArray}.
 */
public record GgufValue(GgufType type, Object value) {
    /** An array's element type and elements (each held as for a scalar of that type). */
    public record GgufArray(GgufType elementType, List<Object> values) {
        public GgufArray {
            values = List.copyOf(values);
        }
    }

    public static GgufValue u32(long v) {
        return new GgufValue(GgufType.UINT32, v);
    }

    public static GgufValue i32(long v) {
        return new GgufValue(GgufType.INT32, v);
    }

    public static GgufValue f32(float v) {
        return new GgufValue(GgufType.FLOAT32, v);
    }

    public static GgufValue string(String v) {
        return new GgufValue(GgufType.STRING, v);
    }

    public static GgufValue array(GgufType elementType, List<?> values) {
        return new GgufValue(GgufType.ARRAY, new GgufArray(elementType, List.copyOf(values)));
    }
}
