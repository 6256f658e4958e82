package dev.gale.models.llama2c;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.SharedFiles;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import dev.gale.models.format.ModelFormatException;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cCheckpointTest {
    @TempDir
    Path tmp;

    @Test
    void loadsStories260KWithTheDocumentedConfig() {
        Path bin = SharedFiles.require(SharedFiles.STORIES_BIN);
        try (LlamaModel m = Llama2cCheckpoint.load(bin)) {
            LlamaConfig c = m.config();
            assertEquals(new LlamaConfig(64, 172, 5, 8, 4, 512, 512, 10000f, 1e-5f, true), c);
            assertEquals(8, c.headDim());
            assertEquals(32, c.kvDim());
            assertEquals(2, c.kvMul());
            assertSame(m.weights().tokenEmbedding(), m.weights().classifier());
            assertEquals(5, m.weights().layers().size());
            WeightTensor w2 = m.weights().layers().get(4).w2();
            assertEquals(WeightType.F32, w2.type());
            assertArrayEquals(new long[] {64, 172}, w2.shape());
            assertTrue(w2.data().origin().startsWith("mapped"), "weights are mapped, not copied");
        }
    }

    /** Tensors compared with floats read straight from the file at the offsets models-and-data.md documents. */
    @Test
    void tensorsMatchTheRawFile() throws IOException {
        Path bin = SharedFiles.require(SharedFiles.STORIES_BIN);
        try (LlamaModel m = Llama2cCheckpoint.load(bin)) {
            var w = m.weights();
            assertArrayEquals(raw(bin, 28 + 4L * 5 * 64, 64), w.tokenEmbedding().data().slice(5 * 64, 64).toFloatArray());
            assertArrayEquals(raw(bin, 132_380 + 4L * 2 * 64 * 64, 64 * 64), w.layers().get(2).wq().data().toFloatArray());
            assertArrayEquals(raw(bin, 214_300 + 4L * 3 * 32 * 64, 32 * 64), w.layers().get(3).wk().data().toFloatArray());
            assertArrayEquals(raw(bin, 599_580 + 4L * 4 * 64 * 172, 64 * 172), w.layers().get(4).w2().data().toFloatArray());
            assertArrayEquals(raw(bin, 378_140 + 4L * 64, 64), w.layers().get(1).ffnNorm().data().toFloatArray());
            assertArrayEquals(raw(bin, 1_039_900, 64), w.finalNorm().data().toFloatArray());
        }
    }

    private static float[] raw(Path file, long offset, int count) throws IOException {
        try (InputStream in = Files.newInputStream(file); DataInputStream d = new DataInputStream(in)) {
            d.skipNBytes(offset);
            float[] out = new float[count];
            for (int i = 0; i < count; i++) {
                out[i] = Float.intBitsToFloat(Integer.reverseBytes(d.readInt())); // the file is little endian
            }
            return out;
        }
    }

    @Test
    void version1AndUnsharedClassifiersLoad() {
        LlamaConfig c = new LlamaConfig(8, 12, 2, 2, 1, 10, 4, 10000f, 1e-5f, false);
        Path v1 = Llama2cFiles.write(tmp.resolve("v1.bin"), c, 1, 7);
        Path v0 = Llama2cFiles.write(tmp.resolve("v0.bin"), c, 0, 7);
        try (LlamaModel a = Llama2cCheckpoint.load(v1); LlamaModel b = Llama2cCheckpoint.load(v0)) {
            assertEquals(c, a.config());
            assertEquals(c, b.config());
            assertArrayEquals(new long[] {10, 8}, a.weights().classifier().shape());
            for (int l = 0; l < 2; l++) {
                assertArrayEquals(Llama2cFiles.values("wq", l, 64, 7), a.weights().layers().get(l).wq().data().toFloatArray());
                assertArrayEquals(Llama2cFiles.values("wq", l, 64, 7), b.weights().layers().get(l).wq().data().toFloatArray());
                assertArrayEquals(Llama2cFiles.values("w2", l, 8 * 12, 7), a.weights().layers().get(l).w2().data().toFloatArray());
            }
            assertArrayEquals(Llama2cFiles.values("wcls", 0, 80, 7), b.weights().classifier().data().toFloatArray());
        }
    }

    @Test
    void errorsNameFileFieldAndOffset() throws IOException {
        LlamaConfig c = new LlamaConfig(8, 12, 2, 2, 1, 10, 4, 10000f, 1e-5f, true);
        Path f = Llama2cFiles.write(tmp.resolve("bad.bin"), c, 0, 1);
        byte[] bytes = Files.readAllBytes(f);
        bytes[12] = 3; // n_heads = 3 does not divide dim 8
        Files.write(f, bytes);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Llama2cCheckpoint.load(f));
        assertEquals("n_heads", e.field());
        assertEquals(12, e.offset());
        assertEquals(f, e.file());
        Files.write(f, java.util.Arrays.copyOf(bytes, 100));
        bytes[12] = 2;
        Files.write(f, java.util.Arrays.copyOf(bytes, 100));
        e = assertThrows(ModelFormatException.class, () -> Llama2cCheckpoint.load(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("at byte"), e.getMessage());
    }
}
