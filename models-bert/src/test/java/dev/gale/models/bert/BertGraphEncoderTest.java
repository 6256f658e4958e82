package dev.gale.models.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.device.Device;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.RunReport;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The encoder as a task graph on every device (the CPU device's Vector API paths and each OpenCL device's kernels),
 * fp32 and int8, against ONNX Runtime: the same bounds as {@link BertEncoderOrtTest} (fp32 ≥ 0.99999 per sentence
 * against the same padded batch; int8 ≥ 0.999 per sentence against the graph as written on each sentence alone), and
 * every launch reported on the device's own path, never a fallback.
 */
class BertGraphEncoderTest {
    static Stream<Arguments> devicesAndModels() {
        List<Arguments> out = new ArrayList<>();
        for (Device d : Devices.all()) {
            for (String model : List.of(MiniLm.FP32, MiniLm.INT8)) {
                out.add(Arguments.of(d.id(), model));
            }
        }
        if (out.stream().noneMatch(a -> ((String) a.get()[0]).startsWith("opencl"))) {
            // Visible in the test report: the OpenCL half of this test did not run here.
            out.add(Arguments.of("opencl (none present: " + Devices.providers().stream()
                    .filter(p -> p.unavailableReason() != null).map(p -> p.unavailableReason()).toList() + ")",
                    "-"));
        }
        return out.stream();
    }

    /** Inputs the tokenizer would never produce still get clear messages from the graph encoder. */
    @Test
    void badBatchesAreRefusedWithAMessage() {
        try (BertGraphEncoder enc = new BertGraphEncoder(BertWeights.from(MiniLm.onnx(MiniLm.INT8),
                BertWeights.MINILM_HEADS), Devices.cpu())) {
            int seq = enc.config().positions() + 1;
            WordPieceTokenizer.Batch tooLong = new WordPieceTokenizer.Batch(1, seq, new int[seq], ones(seq),
                    new int[] {seq}, new int[1]);
            assertTrue(assertThrows(InvalidTextException.class, () -> enc.embed(tooLong)).getMessage()
                    .contains("exceeds the model's 512 positions"));
            WordPieceTokenizer.Batch badId = new WordPieceTokenizer.Batch(1, 3, new int[] {101, 1 << 20, 102},
                    ones(3), new int[] {3}, new int[1]);
            assertTrue(assertThrows(InvalidTextException.class, () -> enc.embed(badId)).getMessage()
                    .contains("token id 1048576 outside the vocabulary of 30522"));
        }
    }

    private static byte[] ones(int n) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, (byte) 1);
        return b;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("devicesAndModels")
    void matchesOnnxRuntime(String deviceId, String model) throws Exception {
        if (model.equals("-") && "1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
            throw new AssertionError("GALE_REQUIRE_OPENCL=1 but no OpenCL device is present: " + deviceId);
        }
        Assumptions.assumeFalse(model.equals("-"), "no OpenCL device: " + deviceId);
        Device device = Devices.byId(deviceId);
        WordPieceTokenizer.Batch batch = MiniLm.tokenizer().encodeBatch(BertEncoderOrtTest.SENTENCES);
        try (BertGraphEncoder enc = new BertGraphEncoder(BertWeights.from(MiniLm.onnx(model),
                BertWeights.MINILM_HEADS), device)) {
            float[][] gale = enc.embed(batch);
            RunReport report = enc.lastReport();
            assertFalse(report.anyFallback(), report.toString());
            for (RunReport.TaskReport t : report.tasks()) {
                if (t.path() != ImplPath.HOST && t.path() != ImplPath.TRANSFER) {
                    assertEquals(deviceId, t.device(), t.task());
                    assertEquals(device.id().equals("cpu") ? ImplPath.VECTOR_API : ImplPath.DEVICE_KERNEL, t.path(),
                            t.task());
                }
            }
            boolean int8 = model.equals(MiniLm.INT8);
            float[][][] ortBatch = int8 ? null : OrtOracle.lastHiddenState(model, batch);
            double worst = 1;
            StringBuilder each = new StringBuilder();
            for (int b = 0; b < batch.size(); b++) {
                double[] want;
                if (int8) {
                    WordPieceTokenizer.Batch one = MiniLm.tokenizer().encodeBatch(
                            List.of(BertEncoderOrtTest.SENTENCES.get(b)));
                    want = OrtOracle.pooled(OrtOracle.lastHiddenState(OrtOracle.graphAsWritten(model), one)[0],
                            one.mask(), 0, one.seq());
                } else {
                    want = OrtOracle.pooled(ortBatch[b], batch.mask(), b, batch.seq());
                }
                double cos = OrtOracle.cosine(gale[b], want);
                worst = Math.min(worst, cos);
                each.append(String.format(" %.2e", 1 - cos));
                assertTrue(cos >= (int8 ? 0.999 : 0.99999), deviceId + " " + model + " sentence " + b + ": " + cos);
            }
            System.out.printf("%s %s: worst cosine to ONNX Runtime 1 - %.2e over %d sentences, %.1f ms; 1 - cosine per "
                    + "sentence:%s%n", deviceId, model, 1 - worst, batch.size(), report.totalNanos() / 1e6, each);
        }
    }
}
