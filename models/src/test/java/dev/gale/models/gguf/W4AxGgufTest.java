package dev.gale.models.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.LlamaWeights;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import dev.gale.models.format.ModelFormatException;
import dev.gale.models.format.Mutations;
import dev.gale.models.llama.Calibration;
import dev.gale.models.llama.W4AxConversion;
import dev.gale.models.synth.SyntheticLlama;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gale's W4Ax GGUF keys against their tensors: each targeted corruption of a key (a permutation that repeats or
 * leaves the range, an A8 count that implies other code shapes, a bad group, span, scheme or version) is rejected at
 * load with a {@link ModelFormatException} naming the file, the key or tensor and its byte offset; and a seeded
 * mutation loop over the whole header ends every case in that typed error or a valid load.
 */
class W4AxGgufTest {
    static final LlamaConfig CONFIG = new LlamaConfig(64, 172, 2, 8, 4, 360, 32, 10000f, 1e-5f, true);

    @TempDir
    Path dir;
    Path file;
    byte[] bytes;

    @BeforeEach
    void writeValidFile() throws IOException {
        Path f32 = dir.resolve("f32.gguf");
        SyntheticLlama.write(CONFIG, WeightType.F32, f32, 5);
        file = dir.resolve("w4a4.gguf");
        try (LlamaModel m = LlamaGguf.load(f32);
             LlamaModel w = W4AxConversion.convert(m, stats(m), new W4AxConversion.Options("w4a4", 32, true, 4f,
                     32))) {
            W4AxGguf.write(w, file);
        }
        bytes = Files.readAllBytes(file);
    }

    /** Channels 3 and 60 of every input are outliers (so the orders are not the identity). */
    static Calibration.Stats stats(LlamaModel m) {
        Map<WeightTensor, float[]> s = new IdentityHashMap<>();
        for (LlamaWeights.Layer l : m.weights().layers()) {
            for (WeightTensor t : List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.w1(), l.w2(), l.w3())) {
                float[] v = new float[(int) t.rowLength()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = 1 + (i * 37 % 11) / 10f;
                }
                v[3] = 30;
                v[60] = 40;
                s.put(t, v);
            }
        }
        return new Calibration.Stats(s, 512);
    }

    /** Offset of the value of metadata {@code key} (after its type), found by its length-prefixed name. */
    int valueOffset(String key) {
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        outer:
        for (int i = 8; i + 8 + k.length <= bytes.length; i++) {
            if (b.getLong(i) != k.length) {
                continue;
            }
            for (int j = 0; j < k.length; j++) {
                if (bytes[i + 8 + j] != k[j]) {
                    continue outer;
                }
            }
            return i + 8 + k.length + 4;
        }
        throw new AssertionError("key " + key + " not in the file");
    }

    /** Loads the file with {@code edit} applied to a copy of its bytes; returns the typed error. */
    ModelFormatException rejected(Consumer<ByteBuffer> edit) throws IOException {
        byte[] m = bytes.clone();
        edit.accept(ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN));
        Path f = dir.resolve("bad.gguf");
        Files.write(f, m);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> LlamaGguf.load(f).close());
        assertEquals(f, e.file());
        assertTrue(e.offset() > 0, "offset " + e.offset() + ": " + e.getMessage());
        return e;
    }

    @Test
    void theValidFileLoads() {
        try (LlamaModel m = LlamaGguf.load(file)) {
            assertTrue(m.w4ax().isPresent());
            assertEquals("w4a4", m.w4ax().get().scheme());
        }
    }

    @Test
    void aRepeatedResidualChannelIsRejected() throws IOException {
        int at = valueOffset(W4AxGguf.RESIDUAL_ORDER) + 4 + 8; // element type, count, then the entries
        ModelFormatException e = rejected(b -> b.putInt(at + 4, b.getInt(at)));
        assertEquals(W4AxGguf.RESIDUAL_ORDER, e.field());
        assertTrue(e.getMessage().contains("appears twice"), e.getMessage());
    }

    @Test
    void aFeedForwardChannelOutOfRangeIsRejected() throws IOException {
        String key = W4AxGguf.ffnOrderKey(1);
        int at = valueOffset(key) + 4 + 8 + 4 * 17;
        ModelFormatException e = rejected(b -> b.putInt(at, 172));
        assertEquals(key, e.field());
        assertTrue(e.getMessage().contains("outside 0..171"), e.getMessage());
    }

    @Test
    void anA8CountThatImpliesOtherCodeShapesIsRejected() throws IOException {
        // ffn_down's input (172 channels, span 32): its 2 outliers make 1 + 6 blocks; 172 A8 would make 6
        String tensor = "blk.0.ffn_down.weight";
        int at = valueOffset(W4AxGguf.a8Key(tensor));
        assertEquals(2, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(at));
        ModelFormatException e = rejected(b -> b.putInt(at, 172));
        assertEquals(tensor, e.field());
        assertTrue(e.getMessage().contains("a8_channels = 172 implies"), e.getMessage());
    }

    @Test
    void anA8CountBeyondTheWidthIsRejected() throws IOException {
        String key = W4AxGguf.a8Key("blk.1.attn_q.weight");
        int at = valueOffset(key);
        ModelFormatException e = rejected(b -> b.putInt(at, 65));
        assertEquals(key, e.field());
    }

    @Test
    void badGroupSpanSchemeAndVersionAreRejected() throws IOException {
        int g = valueOffset(W4AxGguf.GROUP);
        assertEquals(W4AxGguf.GROUP, rejected(b -> b.putInt(g, 48)).field());
        int s = valueOffset(W4AxGguf.SPAN);
        assertEquals(W4AxGguf.SPAN, rejected(b -> b.putInt(s, 96)).field());
        int v = valueOffset(W4AxGguf.VERSION);
        assertEquals(W4AxGguf.VERSION, rejected(b -> b.putInt(v, 2)).field());
        int sc = valueOffset(W4AxGguf.SCHEME) + 8 + 3; // "w4a4": the last character
        assertEquals(W4AxGguf.SCHEME, rejected(b -> b.put(sc, (byte) '9')).field());
        int c = valueOffset(W4AxGguf.ACTIVATION_CLIP);
        assertEquals(1f, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getFloat(c));
        for (float bad : new float[] {0f, -0.5f, 1.01f, Float.NaN}) {
            ModelFormatException e = rejected(b -> b.putFloat(c, bad));
            assertEquals(W4AxGguf.ACTIVATION_CLIP, e.field());
            assertTrue(e.getMessage().contains("not in (0, 1]"), e.getMessage());
        }
    }

    @Test
    void aScaleTensorOfTheWrongGroupIsRejected() throws IOException {
        // the group says 64 where the scales were written for 32: the scale tensor's shape no longer fits
        int g = valueOffset(W4AxGguf.GROUP);
        ModelFormatException e = rejected(b -> b.putInt(g, 64));
        assertTrue(e.field().endsWith(".scale"), e.field());
    }

    @Test
    void mutatedFilesLoadOrFailTyped() {
        // mutations mostly in the metadata from the W4Ax keys on, and the tensor descriptions after them
        int headerBytes = Math.min(bytes.length, valueOffset(W4AxGguf.RESIDUAL_ORDER) + 4096);
        int typed = Mutations.run(bytes, headerBytes, 20261127L, 300, dir, p -> LlamaGguf.load(p).close());
        assertTrue(typed > 100, typed + " typed errors of 300");
    }
}
