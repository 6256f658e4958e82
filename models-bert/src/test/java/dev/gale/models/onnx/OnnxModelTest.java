package dev.gale.models.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class OnnxModelTest {
    @Test
    void readsInitializersFromRawFloatAndInt32Data() {
        OnnxModel m = OnnxModel.parse(MemorySegment.ofArray(ProtoWriter.smallModel()), "small");
        assertEquals(6, m.irVersion());
        assertEquals(11, m.opset());
        assertEquals("gale-test", m.producerName());
        assertEquals(List.of("x"), m.inputs());
        assertEquals(List.of("y"), m.outputs());
        assertArrayEquals(new float[] {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f},
                m.initializer("onnx::MatMul_1").requireShape(2, 3).floats());
        assertArrayEquals(new float[] {1f, -2f, 3f}, m.initializer("dense.bias").floats());
        assertArrayEquals(new byte[] {0, -1, 127}, m.initializer("zp").require(OnnxDataType.INT8).bytes());
        assertArrayEquals(new float[] {0.25f}, m.initializer("scale").requireShape().floats());
        assertEquals(List.of("MatMul", "Add"), m.nodes().stream().map(Node::opType).toList());
        Node add = m.nodes("Add").get(0);
        assertEquals(List.of("xw", "dense.bias"), add.inputs());
        assertEquals(-1, add.attribute("axis").i());
        assertEquals(add, m.consumers().get("xw").get(0));
        OnnxFormatException e = assertThrows(OnnxFormatException.class, () -> m.initializer("nope"));
        assertTrue(e.getMessage().contains("'nope'"));
    }

    /** A well-formed ONNX file of another model is refused by the BERT loader with the tensor it lacks. */
    @Test
    void aValidOnnxFileThatIsNotABertEncoderIsATypedError() {
        OnnxModel m = OnnxModel.parse(MemorySegment.ofArray(ProtoWriter.smallModel()), "small");
        OnnxFormatException e = assertThrows(OnnxFormatException.class,
                () -> dev.gale.models.bert.BertWeights.from(m, 12));
        assertTrue(e.getMessage().startsWith("ONNX small: ") && e.getMessage().contains(
                "embeddings.word_embeddings.weight"), e.getMessage());
    }

    @Test
    void malformedFilesNameTheFieldAndOffset() {
        byte[] good = ProtoWriter.smallModel();
        OnnxFormatException e = assertThrows(OnnxFormatException.class,
                () -> OnnxModel.parse(MemorySegment.ofArray(Arrays.copyOf(good, good.length - 30)), "cut"));
        assertTrue(e.offset() >= 0 && e.getMessage().contains("ONNX cut: ModelProto"), e.getMessage());
        assertTrue(e.getMessage().contains("at byte " + e.offset()), e.getMessage());

        byte[] text = "this is not an onnx file at all\n".getBytes();
        e = assertThrows(OnnxFormatException.class, () -> OnnxModel.parse(MemorySegment.ofArray(text), "txt"));
        assertTrue(e.getMessage().startsWith("ONNX txt: "), e.getMessage());

        // A tensor whose raw_data does not match its dims.
        ProtoWriter t = new ProtoWriter().packedVarints(1, 4).varint(2, 1).string(8, "w").bytes(9, new byte[12]);
        byte[] bad = new ProtoWriter().varint(1, 6).message(7, new ProtoWriter().message(5, t)).toByteArray();
        e = assertThrows(OnnxFormatException.class, () -> OnnxModel.parse(MemorySegment.ofArray(bad), "bad"));
        assertTrue(e.field().endsWith("TensorProto 'w'.raw_data") && e.getMessage().contains("12 bytes for 4"),
                e.getMessage());

        // dims whose product overflows.
        ProtoWriter huge = new ProtoWriter().packedVarints(1, 1L << 40, 1L << 40).varint(2, 1).string(8, "h");
        byte[] hb = new ProtoWriter().varint(1, 6).message(7, new ProtoWriter().message(5, huge)).toByteArray();
        e = assertThrows(OnnxFormatException.class, () -> OnnxModel.parse(MemorySegment.ofArray(hb), "huge"));
        assertTrue(e.getMessage().contains("overflows"), e.getMessage());
    }

    /**
     * Seeded mutations of a small model (truncations, bit flips, bytes set to 0xFF — varints and lengths near 2⁶⁴ —
     * and spliced huge lengths): each either parses or fails with an {@link OnnxFormatException}; nothing else is
     * thrown, nothing large is allocated, and the whole loop is bounded in time.
     */
    @Test
    void fuzzedSmallModelsFailTyped() {
        byte[] good = ProtoWriter.smallModel();
        Random r = new Random(20260611);
        int typed = 0;
        long start = System.nanoTime();
        for (int i = 0; i < 10_000; i++) {
            byte[] b = mutate(good, r);
            typed += parseOrTyped(b, i) ? 0 : 1;
        }
        assertTrue(typed > 5_000, "most mutations should be caught: " + typed);
        assertTrue(System.nanoTime() - start < 30e9, "fuzz loop took too long");
    }

    /** The same on the real int8 MiniLM file: truncations anywhere, and bit flips in its headers and first tensors. */
    @Test
    void fuzzedRealModelFailsTyped() throws Exception {
        byte[] real;
        try (InputStream in = getClass().getResourceAsStream("/all-minilm-l6-v2-q.onnx")) {
            real = in.readAllBytes();
        }
        OnnxModel.parse(MemorySegment.ofArray(real), "real");
        MemorySegment all = MemorySegment.ofArray(real);
        Random r = new Random(42);
        for (int i = 0; i < 40; i++) {
            long cut = i < 20 ? r.nextInt(1 << 16) : r.nextLong(real.length);
            try {
                OnnxModel.parse(all.asSlice(0, cut), "truncated");
                fail("a truncated model parsed: " + cut);
            } catch (OnnxFormatException expected) {
                assertTrue(expected.getMessage().contains("ONNX truncated"));
            }
        }
        for (int i = 0; i < 60; i++) {
            int at = i < 40 ? r.nextInt(1 << 16) : r.nextInt(real.length);
            byte was = real[at];
            real[at] ^= (byte) (1 << r.nextInt(8));
            parseOrTyped(real, i);
            real[at] = was;
        }
    }

    private static boolean parseOrTyped(byte[] b, int i) {
        try {
            OnnxModel m = OnnxModel.parse(MemorySegment.ofArray(b), "fuzz");
            // Reading every initializer must be safe too.
            for (Tensor t : m.initializers().values()) {
                try {
                    if (t.elements() < 1 << 20) {
                        switch (t.type() == null ? OnnxDataType.FLOAT : t.type()) {
                            case FLOAT -> t.floats();
                            case INT8, UINT8 -> t.bytes();
                            default -> t.longs();
                        }
                    }
                } catch (OnnxFormatException expected) {
                    // typed
                }
            }
            return true;
        } catch (OnnxFormatException expected) {
            return false;
        } catch (RuntimeException | OutOfMemoryError | StackOverflowError e) {
            throw new AssertionError("mutation " + i + " threw " + e, e);
        }
    }

    private static byte[] mutate(byte[] good, Random r) {
        byte[] b = good.clone();
        switch (r.nextInt(4)) {
            case 0 -> b = Arrays.copyOf(b, r.nextInt(b.length));
            case 1 -> {
                for (int k = 1 + r.nextInt(4); k > 0; k--) {
                    b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                }
            }
            case 2 -> {
                int at = r.nextInt(b.length);
                for (int k = at; k < Math.min(b.length, at + 1 + r.nextInt(10)); k++) {
                    b[k] = (byte) 0xFF;
                }
            }
            default -> {
                // Splice a huge varint (a length near 2^63) at a random position.
                int at = r.nextInt(b.length);
                byte[] v = {(byte) 0xFE, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
                    (byte) 0xFF, (byte) 0x7F};
                byte[] c = new byte[b.length + v.length];
                System.arraycopy(b, 0, c, 0, at);
                System.arraycopy(v, 0, c, at, v.length);
                System.arraycopy(b, at, c, at + v.length, b.length - at);
                b = c;
            }
        }
        return b;
    }
}
