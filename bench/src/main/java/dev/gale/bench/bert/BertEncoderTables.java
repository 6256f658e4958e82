package dev.gale.bench.bert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.report.Table;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.core.device.Device;
import dev.gale.core.device.Devices;
import dev.gale.models.bert.BertEncoder;
import dev.gale.models.bert.BertGraphEncoder;
import dev.gale.models.bert.MiniLmFiles;
import dev.gale.models.bert.SentenceEncoder;
import dev.gale.models.bert.WordPieceTokenizer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * all-MiniLM-L6-v2 on each device against ONNX Runtime (CPU) running the same ONNX file in the same process:
 * sentences/s at sequence length 128, batch 1, 8 and 64 (quick: 1 and 8), fp32 and int8. The {@code cpu} rows run
 * the direct Vector API encoder ({@link BertEncoder}), each OpenCL device's rows the encoder's task graph as that
 * device's kernels ({@link BertGraphEncoder}); ONNX Runtime is timed once per model and batch and each device's row
 * is divided by that time.
 *
 * <p>Both sides get the same token ids (random vocabulary ids between [CLS] and [SEP], every position real, so no
 * padding), built before the clock starts; tokenization is not timed. Gale's time includes mean pooling and L2
 * normalisation, ONNX Runtime's ends at {@code last_hidden_state} (pooling is under 0.1% of the work). ONNX Runtime
 * gets as many intra-op threads as Gale's worker pool. Each side runs one warm-up pass, then timed passes until both a
 * pass count and a time budget are reached; the row reports the median pass. OpenCL devices get fewer passes (PoCL,
 * the CPU OpenCL device, is slow): no warm-up beyond the first batch's (kernels are compiled and cached by then), two
 * timed passes, one at batch 64. The last column is the cosine between Gale's embedding and the one pooled from ONNX
 * Runtime's output for the same sentence run alone through the graph as written (basic optimizations; the default
 * session's LayerNorm fusion changes int8 answers, see models-bert's OrtLayerNormFusionTest), minimum over the first
 * {@value #CHECKED} sentences of the batch, so a fast wrong answer shows.
 */
public final class BertEncoderTables implements BenchCaseProvider {
    static final String TITLE = "bert encoder (all-MiniLM-L6-v2, seq 128) per device vs ONNX Runtime (cpu)";
    private static final int SEQ = 128;
    /** Sentences of a batch whose embedding is checked against ONNX Runtime's (each run alone). */
    private static final int CHECKED = 8;

    @Override
    public List<BenchCase> cases(boolean quick) {
        return List.of();
    }

    @Override
    public List<Table> tables(boolean quick, Predicate<String> wanted) {
        if (!wanted.test(TITLE)) {
            return List.of();
        }
        int threads = WorkerPool.shared().threads();
        List<List<String>> rows = new ArrayList<>();
        List<String> where = new ArrayList<>();
        for (MiniLmFiles.Variant v : MiniLmFiles.Variant.values()) {
            List<SentenceEncoder> encoders = new ArrayList<>();
            for (Device d : Devices.all()) {
                if (selected(d)) {
                    encoders.add(MiniLmFiles.encoder(v, d));
                }
            }
            try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
                    OrtSession.SessionOptions basic = new OrtSession.SessionOptions()) {
                o.setIntraOpNumThreads(threads);
                basic.setIntraOpNumThreads(threads);
                basic.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.BASIC_OPT);
                byte[] model = MiniLmFiles.onnxBytes(v);
                try (OrtSession ort = OrtEnvironment.getEnvironment().createSession(model, o);
                        OrtSession graph = OrtEnvironment.getEnvironment().createSession(model, basic)) {
                    for (int batch : quick ? new int[] {1, 8} : new int[] {1, 8, 64}) {
                        rows.addAll(rows(v, encoders, ort, graph, batch, quick, where));
                    }
                }
            } catch (OrtException e) {
                rows.add(List.of(name(v), "", "", "ONNX Runtime failed: " + e.getMessage(), "", "", ""));
            }
        }
        List<String> notes = new ArrayList<>(List.of(
                "sentences/s of the median timed pass; same token ids on both sides, no padding, tokenization not "
                        + "timed; ONNX Runtime " + OrtEnvironment.getEnvironment().getVersion() + " (default "
                        + "optimizations) with " + threads + " intra-op threads (Gale's worker pool: " + threads + ")",
                "cpu: one warm-up, then passes until >= 3 s and >= 5 passes (3 at batch 64); OpenCL: 2 timed passes "
                        + "(1 at batch 64), no warm-up after batch 1's; PoCL's numbers are from fewer samples",
                "int8 is the graph's dynamic quantization (uint8 activations x int8 weights); ONNX Runtime takes the "
                        + "activation range over the whole batch, Gale per sentence, so the cosine column compares "
                        + "with ONNX Runtime run on each sentence alone (first " + CHECKED + " of the batch)",
                "the inputs are random vocabulary ids, not text: int8 embeddings of such inputs are the most "
                        + "sensitive to last-bit differences in the fp32 steps before each dynamic quantizer (a "
                        + "flipped uint8 level propagates); models-bert's tests hold int8 to >= 0.999 on real "
                        + "sentences"));
        notes.addAll(where);
        return List.of(new Table(TITLE, List.of("model", "device", "batch", "gale sent/s", "onnxruntime sent/s",
                "gale / ort", "cosine vs ort (min)"), rows, notes));
    }

    /**
     * Devices the table measures: all of them, or those named in {@code -Dgale.bench.devices=cpu,opencl:0} (PoCL's
     * rows take most of the table's quarter hour; the CPU rows alone take minutes).
     */
    private static boolean selected(Device d) {
        String only = System.getProperty("gale.bench.devices", "");
        return only.isBlank() || java.util.Arrays.asList(only.split(",")).contains(d.id());
    }

    private static List<List<String>> rows(MiniLmFiles.Variant v, List<SentenceEncoder> encoders, OrtSession ort,
            OrtSession graph, int batch, boolean quick, List<String> where) throws OrtException {
        WordPieceTokenizer.Batch b = batch(batch, encoders.getFirst().config().vocab());
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] ids = Arrays.stream(b.ids()).asLongStream().toArray();
        long[] ones = new long[ids.length];
        Arrays.fill(ones, 1);
        long[] shape = {batch, SEQ};
        List<List<String>> out = new ArrayList<>();
        try (OnnxTensor ti = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape);
             OnnxTensor tm = OnnxTensor.createTensor(env, LongBuffer.wrap(ones), shape);
             OnnxTensor tt = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[ids.length]), shape)) {
            Map<String, OnnxTensor> in = Map.of("input_ids", ti, "attention_mask", tm, "token_type_ids", tt);
            double ortS = median(quick ? 1.0 : 3.0, quick || batch >= 64 ? 3 : 5, true, () -> {
                try (OrtSession.Result r = ort.run(in)) {
                    r.get(0);
                } catch (OrtException e) {
                    throw new IllegalStateException(e);
                }
            });
            float[][][] alone = new float[Math.min(batch, CHECKED)][][];
            for (int s = 0; s < alone.length; s++) {
                alone[s] = ortAlone(graph, env, ids, s);
            }
            for (SentenceEncoder enc : encoders) {
                boolean cpu = enc.deviceId().equals("cpu");
                double galeS = cpu ? median(quick ? 1.0 : 3.0, quick || batch >= 64 ? 3 : 5, true, () -> enc.embed(b))
                        : median(0, batch >= 64 ? 1 : 2, batch == 1, () -> enc.embed(b));
                // Checked after the timed passes: the answer of the compiled code, not of the first, interpreted pass.
                float[][] gale = enc.embed(b);
                double minCos = 1;
                for (int s = 0; s < alone.length; s++) {
                    minCos = Math.min(minCos, cosine(gale[s], alone[s]));
                }
                out.add(List.of(name(v), enc.deviceId(), Integer.toString(batch), fmt(batch / galeS),
                        fmt(batch / ortS), String.format(Locale.ROOT, "%.2f", ortS / galeS),
                        String.format(Locale.ROOT, "%.6f", minCos)));
                if (batch == 1) {
                    where.add(name(v) + " on " + enc.ranOn());
                }
            }
        }
        return out;
    }

    /**
     * ONNX Runtime's last hidden state of sentence {@code s} run alone. Alone, because the int8 graph quantizes the
     * activations with one range over the whole batch while Gale takes it per sentence (see DynamicQuantU8): a
     * sentence's embedding in Gale equals the graph's on that sentence alone, whatever it is batched with.
     */
    private static float[][] ortAlone(OrtSession ort, OrtEnvironment env, long[] ids, int s) throws OrtException {
        long[] one = Arrays.copyOfRange(ids, s * SEQ, (s + 1) * SEQ);
        long[] ones = new long[SEQ];
        Arrays.fill(ones, 1);
        long[] shape = {1, SEQ};
        try (OnnxTensor ti = OnnxTensor.createTensor(env, LongBuffer.wrap(one), shape);
             OnnxTensor tm = OnnxTensor.createTensor(env, LongBuffer.wrap(ones), shape);
             OnnxTensor tt = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[SEQ]), shape);
             OrtSession.Result r = ort.run(Map.of("input_ids", ti, "attention_mask", tm, "token_type_ids", tt))) {
            return ((float[][][]) r.get(0).getValue())[0];
        }
    }

    /** [CLS] random ids [SEP], all real; ids from 1000 up skip [PAD], [unusedN], [UNK], [CLS], [SEP], [MASK]. */
    private static WordPieceTokenizer.Batch batch(int batch, int vocab) {
        SplittableRandom r = new SplittableRandom(42);
        int[] ids = new int[batch * SEQ];
        byte[] mask = new byte[batch * SEQ];
        int[] lengths = new int[batch];
        Arrays.fill(mask, (byte) 1);
        Arrays.fill(lengths, SEQ);
        for (int s = 0; s < batch; s++) {
            ids[s * SEQ] = 101;
            for (int t = 1; t < SEQ - 1; t++) {
                ids[s * SEQ + t] = 1000 + r.nextInt(vocab - 1000);
            }
            ids[s * SEQ + SEQ - 1] = 102;
        }
        return new WordPieceTokenizer.Batch(batch, SEQ, ids, mask, lengths, new int[batch]);
    }

    /** Seconds of the median pass, after one warm-up pass if asked. */
    private static double median(double budgetSeconds, int minPasses, boolean warmUp, Runnable pass) {
        if (warmUp) {
            pass.run();
        }
        List<Long> ns = new ArrayList<>();
        long start = System.nanoTime();
        while (ns.size() < minPasses || (System.nanoTime() - start) / 1e9 < budgetSeconds && ns.size() < 1000) {
            long t = System.nanoTime();
            pass.run();
            ns.add(System.nanoTime() - t);
        }
        long[] a = ns.stream().mapToLong(Long::longValue).sorted().toArray();
        return a[a.length / 2] / 1e9;
    }

    /** Gale's embedding against ONNX Runtime's hidden state mean-pooled over all (real) tokens, in double. */
    private static double cosine(float[] gale, float[][] hidden) {
        double[] mean = new double[gale.length];
        for (float[] row : hidden) {
            for (int i = 0; i < mean.length; i++) {
                mean[i] += row[i];
            }
        }
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < mean.length; i++) {
            ab += gale[i] * mean[i];
            aa += (double) gale[i] * gale[i];
            bb += mean[i] * mean[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    private static String name(MiniLmFiles.Variant v) {
        return v == MiniLmFiles.Variant.FP32 ? "fp32" : "int8";
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.1f", v);
    }
}
