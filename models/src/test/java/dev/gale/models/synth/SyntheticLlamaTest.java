package dev.gale.models.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.WeightConversion;
import dev.gale.models.WeightType;
import dev.gale.models.gguf.LlamaGguf;
import dev.gale.models.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticLlamaTest {
    @TempDir
    Path tmp;

    @Test
    void writesALoadableModelOfTheRequestedShape() throws Exception {
        LlamaConfig c = new LlamaConfig(64, 96, 2, 4, 2, 400, 32, 500000f, 1e-5f, false);
        Path out = tmp.resolve("synth.gguf");
        LlamaGguf.WriteReport r = SyntheticLlama.write(c, WeightType.Q4_0, out, 7);
        assertEquals(List.of(), r.keptF32());
        try (LlamaModel m = LlamaGguf.load(out)) {
            assertEquals(c, m.config());
            assertEquals(WeightType.Q4_0, m.weights().layers().get(1).w2().type());
            float[] row = WeightConversion.row(m.weights().layers().get(0).wq(), 3);
            double sq = 0;
            for (float v : row) {
                sq += v * v;
            }
            assertTrue(Math.abs(Math.sqrt(sq / row.length) - 0.02) < 0.01, "σ ≈ 0.02: " + Math.sqrt(sq / row.length));
            assertEquals(1f, m.weights().finalNorm().data().getFloat(5));
            Tokenizer t = m.tokenizer().orElseThrow();
            assertEquals(400, t.size());
            String text = "hello world, naïve ☃";
            int[] ids = t.encode(text, true, true);
            assertEquals(text, t.decode(ids));
        }
        Path again = tmp.resolve("again.gguf");
        SyntheticLlama.write(c, WeightType.Q4_0, again, 7);
        assertEquals(-1, Files.mismatch(out, again), "deterministic for a seed");
    }

    @Test
    void realShapesMatchThePublishedSizes() {
        LlamaConfig b1 = SyntheticLlama.Arch.LLAMA_3_2_1B.config();
        assertEquals(64, b1.headDim());
        // 1.24 B parameters (models-and-data.md §4.2): F32 bytes / 4.
        assertEquals(1.24e9, SyntheticLlama.weightBytes(b1, WeightType.F32) / 4.0, 0.01e9);
        assertEquals(8.03e9, SyntheticLlama.weightBytes(SyntheticLlama.Arch.LLAMA_3_8B.config(), WeightType.F32) / 4.0,
                0.01e9);
        assertArrayEquals(new int[] {128256, 128256}, new int[] {b1.vocab(), SyntheticVocabulary.of(b1.vocab()).size()});
    }
}
