package dev.gale.models.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Gale's encoder against ONNX Runtime running the same ONNX file, fp32 and int8, on a batch of sentences of different
 * lengths (so padding and its mask are exercised).
 */
class BertEncoderOrtTest {
    static final List<String> SENTENCES = List.of(
            "The quick brown fox jumps over the lazy dog.",
            "Hi there, how are you today?",
            "Gale runs BERT on the JVM with Vector API kernels, checked against ONNX Runtime.",
            "Café naïve résumé — déjà vu, 東京 is Tokyo.",
            "A man is playing a guitar in the park on a sunny afternoon.",
            "Electrons orbit the nucleus; protons and neutrons sit inside it (mostly).",
            "Hi!");

    /** fp32: the whole batch at once, padded, against ONNX Runtime on the same padded batch. */
    @Test
    void fp32MatchesOnnxRuntime() throws Exception {
        WordPieceTokenizer.Batch batch = MiniLm.tokenizer().encodeBatch(SENTENCES);
        float[][] gale = MiniLm.encoder(MiniLm.FP32).embed(batch);
        float[][][] ort = OrtOracle.lastHiddenState(MiniLm.FP32, batch);
        double worst = 1;
        for (int b = 0; b < batch.size(); b++) {
            double cos = OrtOracle.cosine(gale[b], OrtOracle.pooled(ort[b], batch.mask(), b, batch.seq()));
            worst = Math.min(worst, cos);
            assertTrue(cos >= 0.99999, "fp32 sentence " + b + " cosine " + cos);
        }
        System.out.printf("fp32: worst cosine to ONNX Runtime over %d sentences: 1 - %.3e%n", batch.size(), 1 - worst);
        assertEquals(384, gale[0].length);
    }

    /**
     * int8: Gale's batch against ONNX Runtime running the int8 graph as written on each sentence alone (the graph
     * quantizes activations per tensor, and Gale takes that range per sentence, see {@link dev.gale.kernels.quant.DynamicQuantU8}).
     *
     * <p>The oracle is {@link OrtOracle#graphAsWritten}: ONNX Runtime's default session fuses the graph's decomposed
     * LayerNorm into a kernel with a one-pass float variance, which moves its own int8 answer by up to 0.009 in
     * cosine ({@link OrtLayerNormFusionTest}); the cosine to that session is printed, not asserted.
     */
    @Test
    void int8MatchesOnnxRuntime() throws Exception {
        WordPieceTokenizer.Batch batch = MiniLm.tokenizer().encodeBatch(SENTENCES);
        float[][] gale = MiniLm.encoder(MiniLm.INT8).embed(batch);
        List<String> report = new ArrayList<>();
        for (int b = 0; b < batch.size(); b++) {
            WordPieceTokenizer.Batch one = MiniLm.tokenizer().encodeBatch(List.of(SENTENCES.get(b)));
            double[] graph = OrtOracle.pooled(OrtOracle.lastHiddenState(OrtOracle.graphAsWritten(MiniLm.INT8), one)[0],
                    one.mask(), 0, one.seq());
            double[] fused = OrtOracle.pooled(OrtOracle.lastHiddenState(MiniLm.INT8, one)[0], one.mask(), 0,
                    one.seq());
            double cos = OrtOracle.cosine(gale[b], graph);
            report.add(String.format("%2d tokens: 1 - %.2e to the graph as written (ORT default session: %.6f)",
                    one.seq(), 1 - cos, OrtOracle.cosine(gale[b], fused)));
            assertTrue(cos >= 0.999, "int8 sentence " + b + " cosine to ONNX Runtime int8 " + cos);
        }
        System.out.println("int8 per sentence:\n  " + String.join("\n  ", report));
    }
}
