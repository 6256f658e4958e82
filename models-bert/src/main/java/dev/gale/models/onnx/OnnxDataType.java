package dev.gale.models.onnx;

/** The {@code TensorProto.DataType} codes Gale reads; other codes parse, but their data cannot be read. */
public enum OnnxDataType {
    FLOAT(1, 4),
    UINT8(2, 1),
    INT8(3, 1),
    INT32(6, 4),
    INT64(7, 8);

    private final int code;
    private final int bytes;

    OnnxDataType(int code, int bytes) {
        this.code = code;
        this.bytes = bytes;
    }

    public int code() {
        return code;
    }

    /** Bytes per element in {@code raw_data}. */
    public int bytes() {
        return bytes;
    }

    /** The type of a code, or null when Gale does not read it. */
    public static OnnxDataType of(int code) {
        for (OnnxDataType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        return null;
    }
}
