package dev.gale.models.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.models.LlamaModel;
import dev.gale.models.SharedFiles;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import dev.gale.models.tokenizer.Llama2cTokenizerFile;
import dev.gale.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufRoundTripTest {
    @TempDir
    Path tmp;

    static LlamaModel stories() {
        LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
        Tokenizer t = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512), m.config().vocab());
        return new LlamaModel(m.config(), m.weights(), Optional.of(t));
    }

    @Test
    void storiesAsF32ReadsBackIdentical() throws IOException {
        try (LlamaModel src = stories()) {
            Path out = tmp.resolve("stories-f32.gguf");
            LlamaGguf.WriteReport report = LlamaGguf.write(src, WeightType.F32, out);
            assertEquals(List.of(), report.keptF32());
            try (LlamaModel back = LlamaGguf.load(out)) {
                assertEquals(src.config(), back.config());
                assertSame(back.weights().tokenEmbedding(), back.weights().classifier());
                List<WeightTensor> a = src.weights().all();
                List<WeightTensor> b = back.weights().all();
                assertEquals(a.size(), b.size());
                for (int i = 0; i < a.size(); i++) {
                    assertEquals(a.get(i).name(), b.get(i).name());
                    assertArrayEquals(a.get(i).shape(), b.get(i).shape(), a.get(i).name());
                    assertEquals(-1, a.get(i).data().segment().mismatch(b.get(i).data().segment()), a.get(i).name());
                }
                Tokenizer t1 = src.tokenizer().orElseThrow();
                Tokenizer t2 = back.tokenizer().orElseThrow();
                for (String p : Files.readString(SharedFiles.require(SharedFiles.PRIDE)).substring(0, 20_000).split("\n\n")) {
                    assertArrayEquals(t1.encode(p, true, true), t2.encode(p, true, true), p);
                }
            }
            // Writing what was read gives the same bytes: nothing is lost or reordered.
            Path again = tmp.resolve("again.gguf");
            try (LlamaModel back = LlamaGguf.load(out)) {
                LlamaGguf.write(back, WeightType.F32, again);
            }
            assertEquals(-1, Files.mismatch(out, again));
        }
    }

    @Test
    void storiesAsQ8_0AndQ4_0MatchTheKernelQuantizers() {
        try (LlamaModel src = stories()) {
            for (WeightType type : List.of(WeightType.Q8_0, WeightType.Q4_0)) {
                Path out = tmp.resolve("stories-" + type + ".gguf");
                LlamaGguf.WriteReport report = LlamaGguf.write(src, type, out);
                // hidden_dim 172 is not a whole number of 32-blocks: ffn_down rows stay F32.
                assertEquals(5, report.keptF32().size(), report.keptF32().toString());
                assertTrue(report.keptF32().stream().allMatch(n -> n.endsWith("ffn_down.weight")));
                try (LlamaModel back = LlamaGguf.load(out); Arena arena = Arena.ofConfined()) {
                    assertEquals(src.config(), back.config());
                    var l0 = back.weights().layers().get(0);
                    assertEquals(type, l0.wq().type());
                    assertEquals(WeightType.F32, l0.w2().type());
                    assertEquals(WeightType.F32, l0.attnNorm().type());
                    for (int i = 0; i < 5; i++) {
                        WeightTensor orig = src.weights().layers().get(i).w1();
                        WeightTensor q = back.weights().layers().get(i).w1();
                        MemorySegment expected = arena.allocate(q.byteSize());
                        MemorySegment f = orig.data().segment();
                        for (int r = 0; r < orig.rows(); r++) {
                            long so = 4L * 64 * r;
                            long dq = type.byteSize(64) * r;
                            if (type == WeightType.Q8_0) {
                                Q8_0.quantize(f, so, expected, dq, 64);
                            } else {
                                Q4_0.quantize(f, so, expected, dq, 64);
                            }
                        }
                        assertEquals(-1, expected.mismatch(q.data().segment()), q.name());
                    }
                    float[] a = src.weights().layers().get(2).wq().data().toFloatArray();
                    float[] b = dequantized(back.weights().layers().get(2).wq());
                    double err = 0;
                    double norm = 0;
                    for (int i = 0; i < a.length; i++) {
                        err += (a[i] - b[i]) * (a[i] - b[i]);
                        norm += a[i] * a[i];
                    }
                    assertTrue(Math.sqrt(err / norm) < (type == WeightType.Q8_0 ? 0.01 : 0.15),
                            type + " relative error " + Math.sqrt(err / norm));
                }
            }
        }
    }

    private static float[] dequantized(WeightTensor t) {
        float[] out = new float[(int) t.elements()];
        for (long r = 0; r < t.rows(); r++) {
            float[] row = dev.gale.models.WeightConversion.row(t, r);
            System.arraycopy(row, 0, out, (int) (r * row.length), row.length);
        }
        return out;
    }

    @Test
    void everyMetadataTypeRoundTrips() {
        GgufWriter w = new GgufWriter()
                .put("u8", new GgufValue(GgufType.UINT8, 255L))
                .put("i8", new GgufValue(GgufType.INT8, -128L))
                .put("u16", new GgufValue(GgufType.UINT16, 65535L))
                .put("i16", new GgufValue(GgufType.INT16, -32768L))
                .put("u32", GgufValue.u32(4_000_000_000L))
                .put("i32", GgufValue.i32(-7))
                .put("f32", GgufValue.f32(1.5f))
                .put("bool", new GgufValue(GgufType.BOOL, true))
                .put("str", GgufValue.string("héllo ▁"))
                .put("u64", new GgufValue(GgufType.UINT64, Long.MAX_VALUE))
                .put("i64", new GgufValue(GgufType.INT64, Long.MIN_VALUE))
                .put("f64", new GgufValue(GgufType.FLOAT64, Math.PI))
                .put("general.alignment", GgufValue.u32(64))
                .put("arr", GgufValue.array(GgufType.STRING, List.of("a", "", "bc")))
                .put("nested", GgufValue.array(GgufType.ARRAY, List.of(
                        new GgufValue.GgufArray(GgufType.INT32, List.of(1L, 2L)),
                        new GgufValue.GgufArray(GgufType.INT32, List.of()))));
        w.tensor("t", WeightType.F16, new long[] {3, 2}, dst -> dst.fill((byte) 1));
        w.tensor("q", WeightType.Q8_0, new long[] {2, 32}, dst -> dst.fill((byte) 2));
        Path out = tmp.resolve("types.gguf");
        w.write(out);
        GgufFile g = GgufReader.read(out);
        assertEquals(3, g.version());
        assertEquals(64, g.alignment());
        assertEquals(List.of("u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "u64", "i64", "f64",
                "general.alignment", "arr", "nested"), List.copyOf(g.metadata().values().keySet()));
        assertEquals(new GgufValue(GgufType.UINT32, 4_000_000_000L), g.metadata().get("u32"));
        assertEquals(new GgufValue(GgufType.INT64, Long.MIN_VALUE), g.metadata().get("i64"));
        assertEquals("héllo ▁", g.metadata().string("str"));
        assertEquals(List.of(1L, 2L), ((GgufValue.GgufArray) g.metadata().array("nested", GgufType.ARRAY)
                .values().get(0)).values());
        assertArrayEquals(new long[] {2, 3}, g.tensor("t").dims());
        assertEquals(0, g.dataStart() % 64);
        assertEquals(0, g.tensor("q").offset() % 64);
        WeightTensor q = g.map("q");
        assertEquals(2 * 34, q.data().length());
        q.data().close();
        try (var files = java.util.stream.Stream.of(tmp.toFile().list())) {
            assertEquals(List.of("types.gguf"), files.filter(n -> n.startsWith("types")).toList(), "no temp file left");
        }
        assertTrue(Arrays.asList(tmp.toFile().list()).contains("types.gguf"));
    }
}
