package dev.gale.models.onnx;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One {@code TensorProto} (an initializer or a {@code Constant}'s value): name, type, shape and where its elements
 * are. Elements stay in the file's bytes ({@code raw_data}, or packed {@code float_data}, both little-endian) until
 * asked for; {@code int32_data} and {@code int64_data} (varints) are decoded at parse time. The parser has already
 * checked that the stored element count matches the shape.
 *
 * @param dataType  the raw {@code data_type} code ({@link #type()} is null for codes Gale does not read)
 * @param data      the element bytes (raw or packed fixed32) as a slice of the file, or null when stored as varints
 * @param ints      the varint-stored elements, or null
 * @param offset    byte offset of this tensor's message in the file (for error messages)
 */
public record Tensor(String name, int dataType, long[] dims, MemorySegment data, long[] ints, String source,
        long offset) {

    public OnnxDataType type() {
        return OnnxDataType.of(dataType);
    }

    /** Number of elements: the product of the dims (1 for a scalar). The parser has checked it does not overflow. */
    public long elements() {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    public int rank() {
        return dims.length;
    }

    /** The elements as floats; requires FLOAT. */
    public float[] floats() {
        require(OnnxDataType.FLOAT);
        float[] out = new float[count()];
        if (data != null) {
            MemorySegment.copy(data, ProtoReader.F32_LE, 0, out, 0, out.length);
        }
        return out;
    }

    /**
     * The elements as bytes, for INT8 (signed) and UINT8 (read back with {@code & 0xFF}); from {@code raw_data} or
     * from {@code int32_data}, where each value must fit the type.
     */
    public byte[] bytes() {
        OnnxDataType t = type();
        if (t != OnnxDataType.INT8 && t != OnnxDataType.UINT8) {
            throw error("data_type", "is " + describe() + ", expected INT8 or UINT8");
        }
        byte[] out = new byte[count()];
        if (data != null) {
            MemorySegment.copy(data, JAVA_BYTE, 0, out, 0, out.length);
            return out;
        }
        long lo = t == OnnxDataType.INT8 ? -128 : 0;
        long hi = t == OnnxDataType.INT8 ? 127 : 255;
        for (int i = 0; i < out.length; i++) {
            // int32_data holds sign-extended 32-bit values written as 64-bit varints.
            long v = (int) ints[i];
            if (v < lo || v > hi) {
                throw error("int32_data", "element " + i + " = " + v + " does not fit " + t);
            }
            out[i] = (byte) v;
        }
        return out;
    }

    /** The elements as longs, for INT64 and INT32. */
    public long[] longs() {
        OnnxDataType t = type();
        if (t != OnnxDataType.INT64 && t != OnnxDataType.INT32) {
            throw error("data_type", "is " + describe() + ", expected INT64 or INT32");
        }
        long[] out = new long[count()];
        if (data == null) {
            for (int i = 0; i < out.length; i++) {
                out[i] = t == OnnxDataType.INT32 ? (int) ints[i] : ints[i];
            }
        } else if (t == OnnxDataType.INT64) {
            MemorySegment.copy(data, ProtoReader.I64_LE, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = data.get(ProtoReader.I32_LE, 4L * i);
            }
        }
        return out;
    }

    /** Requires this shape exactly. */
    public Tensor requireShape(long... want) {
        if (!Arrays.equals(dims, want)) {
            throw error("dims", "shape " + Arrays.toString(dims) + ", expected " + Arrays.toString(want));
        }
        return this;
    }

    /** Requires this element type. */
    public Tensor require(OnnxDataType want) {
        if (type() != want) {
            throw error("data_type", "is " + describe() + ", expected " + want);
        }
        return this;
    }

    private String describe() {
        OnnxDataType t = type();
        return t == null ? "code " + dataType : t.toString();
    }

    private int count() {
        long n = elements();
        if (n > Integer.MAX_VALUE - 8) {
            throw error("dims", n + " elements do not fit one Java array");
        }
        return (int) n;
    }

    private OnnxFormatException error(String field, String problem) {
        return new OnnxFormatException(source, "initializer '" + name + "'/TensorProto." + field, offset, problem);
    }

    @Override
    public String toString() {
        return name + " " + describe() + Arrays.toString(dims);
    }
}
