package dev.gale.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.models.bert.MiniLmFiles;
import dev.gale.models.bert.WordPieceTokenizer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbedCommandTest {
    /** Strictly increasing token counts: the embedder's length sort keeps their order, so the batch is the same. */
    private static final List<String> SENTENCES = List.of("Hello!", "Café au lait, s'il vous plaît.",
            "The quick brown fox jumps over the lazy dog near the riverbank.");

    @TempDir
    Path tmp;

    private static String run(int expectedExit, String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code = Gale.run(args, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(expectedExit, code, out);
        return out;
    }

    private static String[] args(String... head) {
        List<String> a = new ArrayList<>(List.of(head));
        a.addAll(SENTENCES);
        return a.toArray(String[]::new);
    }

    /** What the command must write: the encoder's embeddings of the same padded batch. */
    private static float[][] expected(MiniLmFiles.Variant v) {
        WordPieceTokenizer tok = MiniLmFiles.tokenizer();
        return MiniLmFiles.encoder(v).embed(tok.encodeBatch(SENTENCES));
    }

    /**
     * The command's embedding against the encoder's own. Not bit for bit: the encoder's float rounding can change
     * between calls while the JIT compiles its kernels, and int8 rounding amplifies that (see models-bert); the bound
     * is models-bert's own bound against ONNX Runtime. The writers themselves are exact ({@link #writersAreExact}).
     */
    private static void assertSameEmbedding(float[] want, float[] got, double minCosine, String what) {
        assertEquals(want.length, got.length, what);
        double c = SentenceEmbedder.cosine(want, got);
        assertTrue(c >= minCosine, what + ": cosine " + c);
    }

    @Test
    void writersAreExact() throws Exception {
        float[][] e = {{0f, -0f, Float.MIN_VALUE, Float.MAX_VALUE}, {1f / 3, -1e-20f, 0.1f, 384f}};
        var r = new SentenceEmbedder.Result(e, new int[] {3, 512}, new int[] {0, 7});
        List<String> text = List.of("a \"quoted\" \\ line\twith tab", "ünïcödé ✓");
        java.io.StringWriter w = new java.io.StringWriter();
        EmbeddingWriter.json(w, "m", text, r);
        Matcher m = Pattern.compile("\"embedding\": \\[([^\\]]*)\\]").matcher(w.toString());
        for (float[] row : e) {
            assertTrue(m.find(), w.toString());
            String[] parts = m.group(1).split(", ");
            float[] got = new float[parts.length];
            for (int j = 0; j < parts.length; j++) {
                got[j] = Float.parseFloat(parts[j]);
            }
            assertArrayEquals(row, got);
        }
        assertTrue(w.toString().contains("\"text\": \"a \\\"quoted\\\" \\\\ line\\twith tab\""), w.toString());
        Path file = tmp.resolve("w.arrow");
        try (var o = Files.newOutputStream(file)) {
            EmbeddingWriter.arrow(o, "m", text, r);
        }
        try (RootAllocator alloc = new RootAllocator();
             ArrowFileReader rd = new ArrowFileReader(Files.newByteChannel(file), alloc)) {
            assertTrue(rd.loadNextBatch());
            VectorSchemaRoot root = rd.getVectorSchemaRoot();
            Float4Vector values = (Float4Vector) ((FixedSizeListVector) root.getVector("embedding")).getDataVector();
            for (int i = 0; i < e.length; i++) {
                assertEquals(text.get(i), new String(((VarCharVector) root.getVector("text")).get(i),
                        StandardCharsets.UTF_8));
                assertEquals(r.dropped()[i], ((IntVector) root.getVector("truncated_tokens")).get(i));
                assertEquals(r.tokens()[i], ((IntVector) root.getVector("tokens")).get(i));
                for (int j = 0; j < e[i].length; j++) {
                    assertEquals(Float.floatToRawIntBits(e[i][j]), Float.floatToRawIntBits(values.get(i * 4 + j)));
                }
            }
        }
    }

    @Test
    void jsonOnStdoutHoldsTheEncodersEmbeddings() {
        String out = run(0, args("embed", "--model", "int8"));
        Matcher m = Pattern.compile("\\{\"text\": \"((?:[^\"\\\\]|\\\\.)*)\", \"tokens\": (\\d+), "
                + "\"truncated_tokens\": 0, \"embedding\": \\[([^\\]]*)\\]\\}").matcher(out);
        float[][] want = expected(MiniLmFiles.Variant.INT8);
        assertTrue(out.startsWith("{\"model\": \"all-minilm-l6-v2-q\", \"dimensions\": 384"), out);
        for (int i = 0; i < SENTENCES.size(); i++) {
            assertTrue(m.find(), out);
            assertEquals(SENTENCES.get(i), m.group(1));
            assertEquals(MiniLmFiles.tokenizer().encode(SENTENCES.get(i)).ids().length, Integer.parseInt(m.group(2)));
            String[] parts = m.group(3).split(", ");
            float[] got = new float[parts.length];
            for (int j = 0; j < parts.length; j++) {
                got[j] = Float.parseFloat(parts[j]);
            }
            assertSameEmbedding(want[i], got, 0.999, "int8 sentence " + i);
        }
    }

    /** Parses the JSON writer's embeddings back, in order. */
    private static float[][] parseJson(String json, int n) {
        Matcher m = Pattern.compile("\"embedding\": \\[([^\\]]*)\\]").matcher(json);
        float[][] out = new float[n][];
        for (int i = 0; i < n; i++) {
            assertTrue(m.find(), json);
            String[] parts = m.group(1).split(", ");
            out[i] = new float[parts.length];
            for (int j = 0; j < parts.length; j++) {
                out[i][j] = Float.parseFloat(parts[j]);
            }
        }
        return out;
    }

    /** {@code --device}: every device present embeds, says what ran, and agrees with the CPU encoder. */
    @Test
    void everyDeviceEmbedsAndSaysWhatRan() throws Exception {
        for (dev.gale.core.device.Device d : dev.gale.core.device.Devices.all()) {
            for (MiniLmFiles.Variant v : MiniLmFiles.Variant.values()) {
                Path json = tmp.resolve(d.id().replace(':', '_') + v + ".json");
                String out = run(0, args("embed", "--device", d.id(), "--model", v == MiniLmFiles.Variant.FP32
                        ? "fp32" : "int8", "--out", json.toString()));
                assertTrue(out.contains("gale embed: ran on " + d.id()), out);
                if (!d.id().equals("cpu")) {
                    assertTrue(out.contains("device kernel") && out.contains("no fallback")
                            && !out.contains("vector api"), out);
                }
                float[][] got = parseJson(Files.readString(json), SENTENCES.size());
                float[][] want = expected(v);
                for (int i = 0; i < SENTENCES.size(); i++) {
                    assertSameEmbedding(want[i], got[i], v == MiniLmFiles.Variant.FP32 ? 0.99999 : 0.999,
                            d.id() + " " + v + " sentence " + i);
                }
            }
        }
    }

    @Test
    void arrowFileRoundTrips() throws Exception {
        Path file = tmp.resolve("e.arrow");
        String out = run(0, args("embed", "--format", "arrow", "--out", file.toString()));
        assertTrue(out.contains("3 embeddings of 384 floats"), out);
        float[][] want = expected(MiniLmFiles.Variant.FP32);
        try (RootAllocator alloc = new RootAllocator();
             ArrowFileReader r = new ArrowFileReader(Files.newByteChannel(file), alloc)) {
            VectorSchemaRoot root = r.getVectorSchemaRoot();
            assertEquals("all-minilm-l6-v2", root.getSchema().getCustomMetadata().get("model"));
            assertTrue(r.loadNextBatch());
            assertEquals(SENTENCES.size(), root.getRowCount());
            FixedSizeListVector emb = (FixedSizeListVector) root.getVector("embedding");
            assertEquals(384, emb.getListSize());
            assertInstanceOf(ArrowType.FloatingPoint.class, emb.getDataVector().getField().getType());
            Float4Vector values = (Float4Vector) emb.getDataVector();
            VarCharVector text = (VarCharVector) root.getVector("text");
            IntVector truncated = (IntVector) root.getVector("truncated_tokens");
            for (int i = 0; i < SENTENCES.size(); i++) {
                assertEquals(SENTENCES.get(i), new String(text.get(i), StandardCharsets.UTF_8));
                assertEquals(0, truncated.get(i));
                float[] got = new float[384];
                for (int j = 0; j < 384; j++) {
                    got[j] = values.get(i * 384 + j);
                }
                assertSameEmbedding(want[i], got, 0.99999, "fp32 sentence " + i);
            }
            assertTrue(!r.loadNextBatch());
        }
    }

    @Test
    void fileInputOneSentencePerLineWithTruncationReported() throws Exception {
        // --max-tokens 40 takes the path of the model's own 512 at a fraction of the cost.
        String longSentence = String.join(" ", java.util.Collections.nCopies(60, "word"));
        Path in = Files.writeString(tmp.resolve("in.txt"), "First line.\r\n" + longSentence + "\n");
        Path json = tmp.resolve("out.json");
        String out = run(0, "embed", "--file", in.toString(), "--out", json.toString(), "--max-tokens", "40");
        assertTrue(out.contains("sentence 2 truncated: 62 tokens, embedded from its first 40; the last 22 were "
                + "dropped"), out);
        String written = Files.readString(json);
        assertTrue(written.contains("\"text\": \"First line.\", \"tokens\": 5, \"truncated_tokens\": 0"), written);
        assertTrue(written.contains("\"tokens\": 40, \"truncated_tokens\": 22"), written);
    }

    @Test
    void badInputGetsClearMessages() throws Exception {
        assertTrue(run(1, "embed").contains("no sentences: give them as arguments or with --file"));
        assertTrue(run(1, "embed", "fine", "  ").contains("sentence 2 is empty"));
        assertTrue(run(1, "embed", "bad \uFFFD byte").contains("sentence 1 is not valid UTF-8"));
        Path empty = Files.write(tmp.resolve("empty.txt"), new byte[0]);
        assertTrue(run(1, "embed", "--file", empty.toString()).contains("has no sentences"));
        Path blank = Files.writeString(tmp.resolve("blank.txt"), "one\n\nthree\n");
        assertTrue(run(1, "embed", "--file", blank.toString()).contains("line 2 is empty"));
        byte[] bad = "ok\nno\u00e9".getBytes(StandardCharsets.UTF_8);
        bad = Arrays.copyOf(bad, bad.length - 1); // cut the é in half
        Path invalid = Files.write(tmp.resolve("bad.txt"), bad);
        String msg = run(1, "embed", "--file", invalid.toString());
        assertTrue(msg.contains("is not valid UTF-8: line 2, byte offset 5"), msg);
        assertTrue(run(1, "embed", "--file", tmp.resolve("nope.txt").toString()).contains("does not exist"));
        assertTrue(run(2, "embed", "--format", "arrow", "x").contains("needs --out"));
        assertTrue(run(2, "embed", "--model", "fp16", "x").contains("--model must be one of [fp32, int8]"));
        assertTrue(run(2, "embed", "--file", "f", "x").contains("not both"));
        assertTrue(run(2, "embed", "--max-tokens", "600", "x").contains("at most 512"));
        String noDevice = run(2, "embed", "--device", "opencl:99", "x");
        assertTrue(noDevice.contains("--device: no device 'opencl:99'; present: [cpu"), noDevice);
    }

    @Test
    void demoPrintsDevicesSimilaritiesSearchSpeedAndAgreement() {
        String out = run(0, "demo", "--repeat", "1");
        assertTrue(out.contains("cpu") && out.contains("encoder: Vector API kernels"), out);
        for (dev.gale.core.device.Device d : dev.gale.core.device.Devices.all()) {
            assertTrue(out.matches("(?s).*" + d.id() + "\\s+fp32\\s+\\d+\\.\\d sentences/s.*"), out);
            assertTrue(out.matches("(?s).*" + d.id() + "\\s+int8\\s+\\d+\\.\\d sentences/s.*"), out);
            assertTrue(out.contains("fp32 on " + d.id()) && out.contains("int8 on " + d.id()), out);
            if (!d.id().equals("cpu")) {
                assertTrue(out.contains("devices: " + d.id() + " vs cpu: fp32 cosine min"), out);
                assertTrue(out.contains("all devices agree"), out);
            }
        }
        assertTrue(out.contains("== cosine similarity") && out.contains("  12  Il pleut beaucoup"), out);
        assertTrue(out.contains("query: How can I make bread at home?\n    1. "), out);
        assertTrue(out.matches("(?s).*cpu\\s+fp32\\s+\\d+\\.\\d sentences/s.*"), out);
        assertTrue(out.matches("(?s).*cpu\\s+int8\\s+\\d+\\.\\d sentences/s.*"), out);
        Matcher m = Pattern.compile("fp32 vs int8 embeddings on cpu, cosine min (\\d\\.\\d+)").matcher(out);
        assertTrue(m.find(), out);
        assertTrue(Double.parseDouble(m.group(1)) >= 0.99, out);
        // The search finds the obvious neighbours.
        assertTrue(out.contains("query: How can I make bread at home?\n    1. ") && out.matches(
                "(?s).*bread at home\\?\n    1\\. \\d\\.\\d+  The recipe needs flour.*"), out);
        assertTrue(out.matches("(?s).*capital\\?\n    1\\. \\d\\.\\d+  The Eiffel Tower is in Paris\\..*"), out);
    }
}
