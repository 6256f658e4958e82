package dev.gale.models.bert;

import java.io.ByteArrayOutputStream;

/**
 * Re-serialises an ONNX model with extra graph outputs (a {@code ValueInfoProto} carrying only a name, appended to
 * {@code GraphProto.output}), so ONNX Runtime returns intermediate tensors for layer-by-layer comparison.
 */
final class OnnxOutputs {
    private OnnxOutputs() {
    }

    static byte[] withOutputs(byte[] model, String... names) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(model.length + 256);
        int pos = 0;
        while (pos < model.length) {
            int keyStart = pos;
            long[] key = varint(model, pos);
            pos = (int) key[1];
            int field = (int) (key[0] >>> 3);
            int wire = (int) (key[0] & 7);
            switch (wire) {
                case 0 -> pos = (int) varint(model, pos)[1];
                case 1 -> pos += 8;
                case 5 -> pos += 4;
                case 2 -> {
                    long[] len = varint(model, pos);
                    int start = (int) len[1];
                    int end = start + (int) len[0];
                    if (field == 7) {
                        ByteArrayOutputStream g = new ByteArrayOutputStream();
                        g.write(model, start, end - start);
                        for (String n : names) {
                            byte[] nb = n.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                            ByteArrayOutputStream vi = new ByteArrayOutputStream();
                            vi.write(0x0A);
                            writeVarint(vi, nb.length);
                            vi.write(nb, 0, nb.length);
                            g.write(0x62);
                            writeVarint(g, vi.size());
                            g.writeBytes(vi.toByteArray());
                        }
                        out.write(0x3A);
                        writeVarint(out, g.size());
                        out.writeBytes(g.toByteArray());
                        pos = end;
                        continue;
                    }
                    pos = end;
                }
                default -> throw new IllegalArgumentException("wire type " + wire);
            }
            out.write(model, keyStart, pos - keyStart);
        }
        return out.toByteArray();
    }

    private static long[] varint(byte[] b, int pos) {
        long v = 0;
        for (int shift = 0; ; shift += 7) {
            byte x = b[pos++];
            v |= (long) (x & 0x7F) << shift;
            if (x >= 0) {
                return new long[] {v, pos};
            }
        }
    }

    static void writeVarint(ByteArrayOutputStream o, long v) {
        while ((v & ~0x7FL) != 0) {
            o.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        o.write((int) v);
    }
}
