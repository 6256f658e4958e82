package dev.gale.models.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.device.Devices;
import dev.gale.core.graph.RunReport;
import dev.gale.kernels.quant.ChannelBlocks;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.LlamaWeights;
import dev.gale.models.W4AxMatrices;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import dev.gale.models.gguf.LlamaGguf;
import dev.gale.models.gguf.W4AxGguf;
import dev.gale.models.synth.SyntheticLlama;
import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * W4Ax conversion on a small synthetic model with stories260K's awkward widths (dim 64, hidden 172): the FMPQ
 * permutation keeps the function, outlier channels land in A8 blocks, and a written file loads back to the same
 * logits.
 */
class W4AxConversionTest {
    /** stories260K's widths (narrower than one 128-channel block, hidden not a multiple of 32), two layers, GQA. */
    static final LlamaConfig CONFIG = new LlamaConfig(64, 172, 2, 8, 4, 512, 64, 10000f, 1e-5f, true);

    @TempDir
    Path dir;

    static LlamaModel synthetic(Path dir) {
        Path f = dir.resolve("synthetic.gguf");
        SyntheticLlama.write(CONFIG, WeightType.F32, f, 11);
        return LlamaGguf.load(f);
    }

    /** Logits after feeding {@code ids} greedily (one token per step). */
    static float[][] logits(LlamaModel m, int[] ids) {
        float[][] out = new float[ids.length][];
        try (BoundWeights w = new BoundWeights(m); RootAllocator alloc = new RootAllocator();
             LlamaSession s = new LlamaSession(w, alloc, "test", LlamaSession.Options.greedy(Devices.cpu(), 32))) {
            for (int i = 0; i < ids.length; i++) {
                s.step(ids[i]);
                out[i] = s.logits();
            }
        }
        return out;
    }

    static int[] shuffled(int n, Random r) {
        int[] p = W4AxConversion.identity(n);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    static final int[] IDS = {1, 17, 300, 42, 5, 99, 411, 7};

    @Test
    void permutedModelComputesTheSameLogits() {
        Random r = new Random(3);
        try (LlamaModel m = synthetic(dir);
             LlamaModel p = W4AxConversion.permute(m, shuffled(64, r),
                     List.of(shuffled(172, r), shuffled(172, r)))) {
            float[][] a = logits(m, IDS);
            float[][] b = logits(p, IDS);
            for (int t = 0; t < IDS.length; t++) {
                double scale = 0;
                for (float v : a[t]) {
                    scale = Math.max(scale, Math.abs(v));
                }
                // Only float reassociation differs (RMSNorm's sum of squares, the matmuls' column order): a few
                // F32 ulps of the logits' magnitude per layer, far below any change a wrong permutation makes.
                for (int v = 0; v < a[t].length; v++) {
                    assertEquals(a[t][v], b[t][v], 1e-5 * scale, "token " + t + " logit " + v);
                }
            }
        }
    }

    @Test
    void aWrongPermutationChangesTheLogits() {
        // The check above can fail: permuting wq's columns alone (not the residual stream) changes the output.
        Random r = new Random(3);
        try (LlamaModel m = synthetic(dir);
             LlamaModel p = W4AxConversion.permute(m, shuffled(64, r), List.of(shuffled(172, r),
                     shuffled(172, r)))) {
            LlamaWeights pw = p.weights();
            LlamaWeights.Layer l0 = pw.layers().get(0);
            // swap two gains of the first norm only: the residual stream and the norm now disagree
            var g = l0.attnNorm().data();
            float x = g.getFloat(0);
            g.setFloat(0, g.getFloat(1) + 0.5f);
            g.setFloat(1, x);
            float[][] a = logits(m, IDS);
            float[][] b = logits(p, IDS);
            double diff = 0;
            for (int v = 0; v < a[0].length; v++) {
                diff = Math.max(diff, Math.abs(a[0][v] - b[0][v]));
            }
            assertTrue(diff > 1e-4, "a broken permutation went unnoticed: " + diff);
        }
    }

    /** Statistics where a few channels of every matrix input are 50× the rest. */
    static Calibration.Stats outlierStats(LlamaModel m, int[] hot) {
        Map<WeightTensor, float[]> s = new IdentityHashMap<>();
        for (LlamaWeights.Layer l : m.weights().layers()) {
            for (WeightTensor t : List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.w1(), l.w2(), l.w3())) {
                float[] v = new float[(int) t.rowLength()];
                java.util.Arrays.fill(v, 1f);
                for (int h : hot) {
                    v[h] = 50f;
                }
                s.put(t, v);
            }
        }
        return new Calibration.Stats(s, 512);
    }

    @Test
    void fmpqPutsTheOutliersInTheA8Blocks() {
        int[] hot = {5, 40, 63};
        try (LlamaModel m = synthetic(dir);
             LlamaModel w = W4AxConversion.convert(m, outlierStats(m, hot),
                     new W4AxConversion.Options("w4a4", 32, true, 8f, 32))) {
            W4AxMatrices x = w.w4ax().orElseThrow();
            assertArrayEquals(new int[] {5, 40, 63}, java.util.Arrays.copyOf(x.residualOrder(), 3));
            LlamaWeights.Layer l = w.weights().layers().get(0);
            ChannelBlocks q = x.matrices().get(l.wq()).layout();
            // three outliers, rounded up to one whole 32-channel A8 block (64 is a multiple of the span)
            assertEquals(32, q.eightBitChannels());
            assertEquals(1, q.eightBitBlocks());
            // w2's input (172 channels, no multiple of 32): the exact prefix, zero-padded blocks
            ChannelBlocks d = x.matrices().get(l.w2()).layout();
            assertEquals(3, d.eightBitChannels());
            assertEquals(1 + 6, d.blocks());
            // wo's input is in head order: its prefix reaches the last outlier, channel 63
            assertEquals(64, x.matrices().get(l.wo()).layout().eightBitChannels());
        }
    }

    @Test
    void naiveW4A4HasNoA8AndW4A8NoA4() {
        try (LlamaModel m = synthetic(dir);
             LlamaModel a4 = W4AxConversion.convert(m, null, new W4AxConversion.Options("w4a4", 128, false, 0, 128));
             LlamaModel a8 = W4AxConversion.convert(m, null, new W4AxConversion.Options("w4a8", 64, false, 0, 64))) {
            assertEquals(0, a4.w4ax().orElseThrow().eightBitShare()[0]);
            long[] s8 = a8.w4ax().orElseThrow().eightBitShare();
            assertEquals(s8[1], s8[0]);
            // the model still runs, its logits near F32's (W4 weights of σ = 0.02 Gaussians)
            float[][] f = logits(m, IDS);
            float[][] q = logits(a8, IDS);
            double err = 0;
            double mag = 0;
            for (int v = 0; v < f[3].length; v++) {
                err = Math.max(err, Math.abs(f[3][v] - q[3][v]));
                mag = Math.max(mag, Math.abs(f[3][v]));
            }
            assertTrue(err < 0.5 * mag, "W4A8 logits " + err + " off, magnitude " + mag);
        }
    }

    /**
     * An untied classifier and its embedding table become Q8_0 (read per token, they would otherwise dominate a large
     * vocabulary's step in F32); the model runs near F32's logits and its file loads back with the same tensors.
     */
    @Test
    void anUntiedClassifierIsStoredQ8_0() {
        LlamaConfig untied = new LlamaConfig(64, 172, 2, 8, 4, 512, 64, 10000f, 1e-5f, false);
        Path f = dir.resolve("untied.gguf");
        SyntheticLlama.write(untied, WeightType.F32, f, 13);
        Path out = dir.resolve("untied-w4a8.gguf");
        try (LlamaModel m = LlamaGguf.load(f);
             LlamaModel a8 = W4AxConversion.convert(m, null, new W4AxConversion.Options("w4a8", 64, false, 0, 64))) {
            assertFalse(a8.weights().tiedClassifier());
            assertEquals(WeightType.Q8_0, a8.weights().classifier().type());
            assertEquals(WeightType.Q8_0, a8.weights().tokenEmbedding().type());
            float[][] want = logits(m, IDS);
            float[][] got = logits(a8, IDS);
            double err = 0;
            double mag = 0;
            for (int v = 0; v < want[3].length; v++) {
                err = Math.max(err, Math.abs(want[3][v] - got[3][v]));
                mag = Math.max(mag, Math.abs(want[3][v]));
            }
            assertTrue(err < 0.5 * mag, "W4A8 + Q8_0 classifier logits " + err + " off, magnitude " + mag);
            W4AxGguf.write(a8, out);
            try (LlamaModel back = LlamaGguf.load(out)) {
                assertEquals(WeightType.Q8_0, back.weights().classifier().type());
                assertEquals(-1, a8.weights().classifier().data().segment()
                        .mismatch(back.weights().classifier().data().segment()));
                assertEquals(-1, a8.weights().tokenEmbedding().data().segment()
                        .mismatch(back.weights().tokenEmbedding().data().segment()));
            }
        }
    }

    /**
     * The W4Ax decode step quantizes each normalised vector once, in the RMSNorm before wq/wk/wv and w1/w3 (the run
     * report names the fused op and the readers that share it), and runs the packed GEMV for group 128.
     */
    @Test
    void theDecodeStepFusesTheQuantizerIntoTheNorms() {
        try (LlamaModel m = synthetic(dir);
             LlamaModel a4 = W4AxConversion.convert(m, null, new W4AxConversion.Options("w4a4", 128, false, 0, 128));
             BoundWeights w = new BoundWeights(a4); RootAllocator alloc = new RootAllocator();
             LlamaSession s = new LlamaSession(w, alloc, "test", LlamaSession.Options.greedy(Devices.cpu(), 32))) {
            s.step(IDS[0]);
            s.step(IDS[1]);
            RunReport report = s.lastReport();
            for (int l = 0; l < CONFIG.layers(); l++) {
                String attn = report.task("l" + l + ".attn_norm").detail();
                String ffn = report.task("l" + l + ".ffn_norm").detail();
                assertTrue(attn.startsWith("RMSNorm fused with the A4 activation quantizer")
                        && attn.endsWith("shared by 3 matmuls"), attn);
                assertTrue(ffn.endsWith("shared by 2 matmuls"), ffn);
                for (String mm : new String[] {"wq", "wk", "wv", "w1", "w3"}) {
                    String d = report.task("l" + l + "." + mm).detail();
                    assertTrue(d.contains("packed 4-row GEMV") && d.endsWith("input quantized by its RMSNorm"), d);
                }
                String wo = report.task("l" + l + ".wo").detail();
                assertFalse(wo.contains("RMSNorm"), wo);
            }
            for (float v : s.logits()) {
                assertTrue(Float.isFinite(v));
            }
        }
    }

    @Test
    void writtenFileLoadsBackToTheSameLogits() {
        Path out = dir.resolve("w4a4.gguf");
        try (LlamaModel m = synthetic(dir);
             LlamaModel w = W4AxConversion.convert(m, outlierStats(m, new int[] {2, 9}),
                     new W4AxConversion.Options("w4a4", 64, true, 8f, 32, true, 0f, 0.875f))) {
            assertTrue(w.w4ax().get().describe().contains("clipped at 0.875x"), w.w4ax().get().describe());
            W4AxGguf.write(w, out);
            try (LlamaModel back = LlamaGguf.load(out)) {
                assertEquals(w.w4ax().get().describe(), back.w4ax().orElseThrow().describe());
                assertArrayEquals(w.w4ax().get().residualOrder(), back.w4ax().get().residualOrder());
                for (int l = 0; l < CONFIG.layers(); l++) {
                    LlamaWeights.Layer x = w.weights().layers().get(l);
                    LlamaWeights.Layer y = back.weights().layers().get(l);
                    for (int k = 0; k < x.all().size(); k++) {
                        W4AxMatrices.Matrix mx = w.w4ax().get().matrices().get(x.all().get(k));
                        W4AxMatrices.Matrix my = back.w4ax().get().matrices().get(y.all().get(k));
                        assertEquals(mx == null, my == null, x.all().get(k).name());
                        if (mx != null) {
                            assertEquals(-1, mx.weights().codes().mismatch(my.weights().codes()), "codes");
                            assertEquals(-1, mx.weights().scales().mismatch(my.weights().scales()), "scales");
                            assertEquals(mx.layout().toString(), my.layout().toString());
                        }
                    }
                }
                float[][] a = logits(w, IDS);
                float[][] b = logits(back, IDS);
                for (int t = 0; t < IDS.length; t++) {
                    // the same codes; the kernels' lane sums may associate differently across JIT tiers
                    double scale = 0;
                    for (float v : a[t]) {
                        scale = Math.max(scale, Math.abs(v));
                    }
                    for (int v = 0; v < a[t].length; v++) {
                        assertEquals(a[t][v], b[t][v], 1e-5 * scale, "token " + t + " logit " + v);
                    }
                }
            }
        }
    }

    @Test
    void calibrationTextTooShortIsATypedErrorStatingTheMinimum() {
        try (LlamaModel m = synthetic(dir)) {
            CalibrationException e = assertThrows(CalibrationException.class, () -> Calibration.collect(m,
                    m.tokenizer().orElseThrow(), "tiny.txt", "Once upon a time there was a cat.", 4096));
            assertEquals(Calibration.MIN_TOKENS, e.minimum());
            assertTrue(e.getMessage().contains("tiny.txt") && e.getMessage().contains("at least "
                    + Calibration.MIN_TOKENS), e.getMessage());
        }
    }

    @Test
    void calibrationRecordsEveryMatrixInput() {
        StringBuilder text = new StringBuilder();
        Random r = new Random(5);
        for (int i = 0; i < 1500; i++) {
            text.append((char) ('a' + r.nextInt(26))).append(i % 7 == 0 ? " " : "");
        }
        try (LlamaModel m = synthetic(dir)) {
            Calibration.Stats s = Calibration.collect(m, m.tokenizer().orElseThrow(), "random", text.toString(), 512);
            assertEquals(512, s.tokens());
            for (LlamaWeights.Layer l : m.weights().layers()) {
                for (WeightTensor t : List.of(l.wq(), l.wo(), l.w1(), l.w2())) {
                    float[] v = s.of(t);
                    assertEquals(t.rowLength(), v.length);
                    float[] ms = s.meanSquareOf(t);
                    for (int c = 0; c < v.length; c++) {
                        assertTrue(v[c] > 0, t + ": channel " + c + " has no calibration magnitude");
                        // a mean of squares is positive and at most the largest square (float rounding aside)
                        assertTrue(ms[c] > 0 && ms[c] <= v[c] * v[c] * (1 + 1e-6), t + ": channel " + c
                                + " mean square " + ms[c] + ", max " + v[c]);
                    }
                }
            }
        }
    }

    @Test
    void optionsRejectMixedUpSchemes() {
        assertThrows(IllegalArgumentException.class, () -> new W4AxConversion.Options("w4a8", 32, true, 8f, 128));
        assertThrows(IllegalArgumentException.class, () -> new W4AxConversion.Options("w4a4", 48, false, 0, 128));
        assertThrows(IllegalArgumentException.class, () -> new W4AxConversion.Options("w4a4", 32, false, 0, 16));
        assertThrows(IllegalArgumentException.class, () -> new W4AxConversion.Options("w4a4", 32, false, 0, 32,
                true, 1f, 1f));
        assertThrows(IllegalArgumentException.class, () -> new W4AxConversion.Options("w4a4", 32, false, 0, 32,
                true, 0f, 0f));
        assertThrows(IllegalArgumentException.class, () -> new W4AxConversion.Options("w4a4", 32, false, 0, 32,
                true, 0f, 1.1f));
    }

    /** A calibration over a random-letter text of 512 tokens (the synthetic model's vocabulary is letters). */
    static Calibration.Stats calibrate(LlamaModel m) {
        StringBuilder text = new StringBuilder();
        Random r = new Random(5);
        for (int i = 0; i < 1500; i++) {
            text.append((char) ('a' + r.nextInt(26))).append(i % 7 == 0 ? " " : "");
        }
        return Calibration.collect(m, m.tokenizer().orElseThrow(), "random", text.toString(), 512);
    }

    @Test
    void smoothedModelComputesTheSameLogitsAndItsStatisticsAreItsOwn() {
        try (LlamaModel m = synthetic(dir)) {
            assertThrows(IllegalArgumentException.class, () -> W4AxConversion.convert(m, null,
                    new W4AxConversion.Options("w4a4", 32, false, 0, 32, true, 0.5f, 1f)));
            Calibration.Stats stats = calibrate(m);
            W4AxConversion.Smoothed sm = W4AxConversion.smooth(m, stats, 0.5f);
            try (LlamaModel s = sm.model()) {
                float[][] a = logits(m, IDS);
                float[][] b = logits(s, IDS);
                for (int t = 0; t < IDS.length; t++) {
                    double scale = 0;
                    for (float v : a[t]) {
                        scale = Math.max(scale, Math.abs(v));
                    }
                    // each weight is rounded once more (w·s_c in F32) and the norm gain once (g/s_c): a few ulps
                    for (int v = 0; v < a[t].length; v++) {
                        assertEquals(a[t][v], b[t][v], 2e-5 * scale, "token " + t + " logit " + v);
                    }
                }
                // the rescaled statistics are what a calibration of the smoothed model measures
                Calibration.Stats again = calibrate(s);
                boolean moved = false;
                for (int l = 0; l < CONFIG.layers(); l++) {
                    LlamaWeights.Layer x = s.weights().layers().get(l);
                    LlamaWeights.Layer o = m.weights().layers().get(l);
                    for (int k : new int[] {1, 4, 6, 7}) { // wq, wo, w1, w2: the four inputs
                        float[] want = sm.stats().of(x.all().get(k));
                        float[] got = again.of(x.all().get(k));
                        float[] before = stats.of(o.all().get(k));
                        for (int c = 0; c < want.length; c++) {
                            assertEquals(want[c], got[c], 1e-4 * want[c], "layer " + l + " " + x.all().get(k)
                                    + " channel " + c);
                            moved |= Math.abs(want[c] - before[c]) > 0.01 * before[c];
                        }
                        float[] wantMs = sm.stats().meanSquareOf(x.all().get(k));
                        float[] gotMs = again.meanSquareOf(x.all().get(k));
                        for (int c = 0; c < want.length; c++) {
                            assertEquals(wantMs[c], gotMs[c], 1e-3 * wantMs[c], "mean square, channel " + c);
                        }
                    }
                }
                assertTrue(moved, "smoothing changed no activation");
            }
        }
    }
}
