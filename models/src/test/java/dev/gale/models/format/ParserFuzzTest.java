package dev.gale.models.format;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.SharedFiles;
import dev.gale.models.WeightType;
import dev.gale.models.gguf.GgufReader;
import dev.gale.models.gguf.LlamaGguf;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import dev.gale.models.llama2c.Llama2cFiles;
import dev.gale.models.synth.SyntheticVocabulary;
import dev.gale.models.tokenizer.Llama2cTokenizerFile;
import dev.gale.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every loader and parser of untrusted files, under {@link Mutations}: typed errors or valid loads only. */
class ParserFuzzTest {
    private static final long SEED = 0x6a1e_2025L;

    @TempDir
    Path tmp;

    @Test
    void llama2cCheckpoints() throws IOException {
        for (int version : new int[] {0, 1}) {
            Path f = tmp.resolve("v" + version + ".bin");
            SmallModels.llama2c(f, version);
            int typed = Mutations.run(Files.readAllBytes(f), version == 0 ? 28 : 256, SEED + version, 300, tmp,
                    p -> Llama2cCheckpoint.load(p).close());
            assertTrue(typed > 100, typed + " typed errors");
        }
    }

    @Test
    void ggufModels() throws IOException {
        Path f = tmp.resolve("small.gguf");
        for (WeightType type : new WeightType[] {WeightType.F32, WeightType.Q4_0}) {
            SmallModels.gguf(tmp, f, type);
            byte[] bytes = Files.readAllBytes(f);
            int header = (int) GgufReader.read(f).dataStart();
            int typed = Mutations.run(bytes, header, SEED + type.ordinal(), 400, tmp, p -> LlamaGguf.load(p).close());
            assertTrue(typed > 150, typed + " typed errors");
        }
    }

    @Test
    void tokenizerFiles() throws IOException {
        Path f = tmp.resolve("tok.bin");
        SmallModels.tokenizerBin(f, SyntheticVocabulary.of(400));
        int typed = Mutations.run(Files.readAllBytes(f), 400, SEED, 400, tmp, p -> Llama2cTokenizerFile.read(p));
        assertTrue(typed > 150, typed + " typed errors");
    }

    @Test
    void tok512() throws IOException {
        byte[] bytes = Files.readAllBytes(SharedFiles.require(SharedFiles.TOK512));
        Mutations.run(bytes, bytes.length, SEED, 250, tmp, p -> Llama2cTokenizerFile.read(p, 512));
    }

    /** Small valid files to mutate; written by the code under test only where the test is about that writer. */
    static final class SmallModels {
        private SmallModels() {
        }

        static final LlamaConfig CONFIG = new LlamaConfig(64, 96, 2, 4, 2, 400, 16, 10000f, 1e-5f, false);

        static void llama2c(Path f, int version) {
            Llama2cFiles.write(f, new LlamaConfig(8, 12, 2, 2, 1, 10, 4, 10000f, 1e-5f, version == 1), version, 3);
        }

        /** A llama2.c model of {@link #CONFIG}'s shape, read and written as GGUF with a small vocabulary. */
        static void gguf(Path dir, Path f, WeightType type) {
            Path bin = Llama2cFiles.write(dir.resolve("src.bin"), CONFIG, 0, 5);
            try (LlamaModel m = Llama2cCheckpoint.load(bin)) {
                LlamaGguf.write(new LlamaModel(m.config(), m.weights(),
                        Optional.of(SyntheticVocabulary.of(CONFIG.vocab()))), type, f);
            }
        }

        static void tokenizerBin(Path f, Tokenizer t) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            int max = 0;
            for (int i = 0; i < t.size(); i++) {
                max = Math.max(max, t.piece(i).length);
            }
            b.putInt(max);
            for (int i = 0; i < t.size(); i++) {
                b.putFloat(t.score(i)).putInt(t.piece(i).length).put(t.piece(i));
            }
            Files.write(f, java.util.Arrays.copyOf(b.array(), b.position()));
        }
    }
}
