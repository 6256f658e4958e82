package dev.gale.models.gguf;

/** GGUF metadata value types, with their ids and, for fixed-size types, their size in bytes. */
public enum GgufType {
    UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1), STRING(-1), ARRAY(-1),
    UINT64(8), INT64(8), FLOAT64(8);

    private final int size;

    GgufType(int size) {
        this.size = size;
    }

    /** The id written in the file: the declaration order, as in the spec. */
    public int id() {
        return ordinal();
    }

    /**
     * The fewest bytes one value can take: its size, or the length (and element type and count) prefix of strings
     * and arrays. Used to refuse counts that cannot fit in the rest of the file before anything is allocated.
     */
    public int minBytes() {
        return switch (this) {
            case STRING -> 8;
            case ARRAY -> 12;
            default -> size;
        };
    }

    public boolean isInteger() {
        return this != FLOAT32 && this != FLOAT64 && this != BOOL && this != STRING && this != ARRAY;
    }

    public static GgufType ofId(long id) {
        return id >= 0 && id < values().length ? values()[(int) id] : null;
    }
}
