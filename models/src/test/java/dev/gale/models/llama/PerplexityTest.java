package dev.gale.models.llama;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.attention.KvPrecision;
import dev.gale.core.device.Devices;
import dev.gale.models.LlamaModel;
import dev.gale.models.SharedFiles;
import dev.gale.models.WeightType;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import dev.gale.models.tokenizer.Llama2cTokenizerFile;
import dev.gale.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Locale;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * Quality of the quantized and compressed variants of stories260K on Pride and Prejudice: the first 1024 tokens in
 * windows of 256 after BOS, each variant's perplexity against F32's.
 */
class PerplexityTest {
    static final int TOKENS = 1024;
    static final int WINDOW = 256;

    static double ppl(LlamaModel m, Tokenizer tok, int[] text, KvPrecision kv) {
        try (BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator()) {
            LlamaSession.Options o = new LlamaSession.Options(Devices.cpu(), kv, WINDOW + 1, 0f, 1f, 1, false,
                    KvPolicy.FULL);
            return Perplexity.evaluate(w, alloc, o, tok, text, WINDOW, null).perplexity();
        }
    }

    @Test
    void quantizedVariantsStayWithinTheirBoundsOfF32() throws IOException {
        Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
        String austen = Files.readString(SharedFiles.require(SharedFiles.PRIDE));
        int[] text = Perplexity.firstTokens(tok, austen, TOKENS);
        try (LlamaModel f32 = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN))) {
            double base = ppl(f32, tok, text, KvPrecision.F32);
            double f16kv = ppl(f32, tok, text, KvPrecision.F16);
            double int8kv = ppl(f32, tok, text, KvPrecision.INT8);
            double int4kv = ppl(f32, tok, text, KvPrecision.INT4);
            // Head dim 8 holds half a 32-bit word of 2-bit codes: INT2 KV does not fit stories260K, and says so.
            IllegalArgumentException no2 = org.junit.jupiter.api.Assertions.assertThrows(
                    IllegalArgumentException.class, () -> ppl(f32, tok, text, KvPrecision.INT2));
            assertTrue(no2.getMessage().contains("head dim 8"), no2.getMessage());
            double q8;
            double q4;
            try (LlamaModel m = WeightQuantizer.quantize(Llama2cCheckpoint.load(
                    SharedFiles.require(SharedFiles.STORIES_BIN)), WeightType.Q8_0)) {
                q8 = ppl(m, tok, text, KvPrecision.F32);
            }
            try (LlamaModel m = WeightQuantizer.quantize(Llama2cCheckpoint.load(
                    SharedFiles.require(SharedFiles.STORIES_BIN)), WeightType.Q4_0)) {
                q4 = ppl(m, tok, text, KvPrecision.F32);
            }
            System.out.printf(Locale.ROOT, "perplexity on %d tokens of Pride and Prejudice: f32 %.4f, f16 kv %.4f, "
                    + "int8 kv %.4f, int4 kv %.4f, q8_0 %.4f, q4_0 %.4f%n", TOKENS, base, f16kv, int8kv, int4kv, q8, q4);
            // stories260K was trained on children's stories; Austen is far outside them, so the absolute value is
            // high. The bounds are on the ratio to F32.
            assertTrue(base > 1 && base < 512, "f32 perplexity " + base);
            assertTrue(Math.abs(f16kv / base - 1) < 0.002, "f16 kv " + f16kv + " vs f32 " + base);
            assertTrue(q8 / base < 1.01, "q8_0 " + q8 + " vs f32 " + base);
            assertTrue(int8kv / base < 1.01, "int8 kv " + int8kv + " vs f32 " + base);
            assertTrue(int4kv / base < 1.10, "int4 kv " + int4kv + " vs f32 " + base);
            assertTrue(q4 / base < 1.15, "q4_0 " + q4 + " vs f32 " + base);
        }
    }
}
