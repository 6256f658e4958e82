package dev.gale.models.onnx;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** A protobuf wire-format writer for building test ONNX files (the reader's mirror, deliberately separate code). */
final class ProtoWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    ProtoWriter varint(int field, long v) {
        key(field, 0);
        raw(v);
        return this;
    }

    ProtoWriter bytes(int field, byte[] b) {
        key(field, 2);
        raw(b.length);
        out.writeBytes(b);
        return this;
    }

    ProtoWriter string(int field, String s) {
        return bytes(field, s.getBytes(StandardCharsets.UTF_8));
    }

    ProtoWriter message(int field, ProtoWriter m) {
        return bytes(field, m.toByteArray());
    }

    ProtoWriter fixed32(int field, float f) {
        key(field, 5);
        ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(f);
        out.writeBytes(b.array());
        return this;
    }

    ProtoWriter packedVarints(int field, long... v) {
        ProtoWriter p = new ProtoWriter();
        for (long x : v) {
            p.raw(x);
        }
        return bytes(field, p.toByteArray());
    }

    ProtoWriter packedFloats(int field, float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return bytes(field, b.array());
    }

    byte[] toByteArray() {
        return out.toByteArray();
    }

    private void key(int field, int wire) {
        raw((long) field << 3 | wire);
    }

    private void raw(long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    /** A small graph: y = x·W + b, W in raw_data, b in float_data, an int8 zero point in int32_data. */
    static byte[] smallModel() {
        ByteBuffer w = ByteBuffer.allocate(4 * 6).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 6; i++) {
            w.putFloat(i + 0.5f);
        }
        ProtoWriter weight = new ProtoWriter().packedVarints(1, 2, 3).varint(2, 1).string(8, "onnx::MatMul_1")
                .bytes(9, w.array());
        ProtoWriter bias = new ProtoWriter().packedVarints(1, 3).varint(2, 1).packedFloats(4, 1f, -2f, 3f)
                .string(8, "dense.bias");
        ProtoWriter zp = new ProtoWriter().packedVarints(1, 3).varint(2, 3).packedVarints(5, 0, -1L, 127)
                .string(8, "zp");
        ProtoWriter scalar = new ProtoWriter().varint(2, 1).fixed32(4, 0.25f).string(8, "scale");
        ProtoWriter matmul = new ProtoWriter().string(1, "x").string(1, "onnx::MatMul_1").string(2, "xw")
                .string(3, "mm").string(4, "MatMul");
        ProtoWriter add = new ProtoWriter().string(1, "xw").string(1, "dense.bias").string(2, "y").string(3, "add")
                .string(4, "Add").message(5, new ProtoWriter().string(1, "axis").varint(3, -1).varint(20, 2));
        ProtoWriter graph = new ProtoWriter().message(1, matmul).message(1, add).string(2, "g").message(5, weight)
                .message(5, bias).message(5, zp).message(5, scalar)
                .message(11, new ProtoWriter().string(1, "x")).message(12, new ProtoWriter().string(1, "y"));
        return new ProtoWriter().varint(1, 6).string(2, "gale-test").string(3, "1").message(7, graph)
                .message(8, new ProtoWriter().string(1, "").varint(2, 11)).toByteArray();
    }
}
