package dev.gale.bench.bert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.report.Table;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.models.bert.BertEncoder;
import dev.gale.models.bert.MiniLmFiles;
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
 * all-MiniLM-L6-v2 on the CPU against ONNX Runtime running the same ONNX file in the same process: sentences/s at
 * sequence length 128, batch 1, 8 and 64 (quick: 1 and 8), fp32 and int8.
 *
 * <p>Both sides get the same token ids (random vocabulary ids between [CLS] and [SEP], every position real, so no
 * padding), built before the clock starts; tokenization is not timed. Gale's time includes mean pooling and L2
 * normalisation, ONNX Runtime's ends at {@code last_hidden_state} (pooling is under 0.1% of the work). ONNX Runtime
 * gets as many intra-op threads as Gale's worker pool. Each side runs one warm-up pass, then timed passes until both a
 * pass count and a time budget are reached; the row reports the median pass. The last column is the cosine between
 * Gale's embedding and the one pooled from ONNX Runtime's output for the same sentence run alone (minimum over the
 * first {@value #CHECKED} sentences of the batch), so a fast wrong answer shows.
 */
public final class BertEncoderTables implements BenchCaseProvider {
    static final String TITLE = "bert encoder (all-MiniLM-L6-v2, seq 128, cpu) vs ONNX Runtime";
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
        for (MiniLmFiles.Variant v : MiniLmFiles.Variant.values()) {
            BertEncoder enc = MiniLmFiles.encoder(v);
            try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
                o.setIntraOpNumThreads(threads);
                try (OrtSession ort = OrtEnvironment.getEnvironment().createSession(MiniLmFiles.onnxBytes(v), o)) {
                    for (int batch : quick ? new int[] {1, 8} : new int[] {1, 8, 64}) {
                        rows.add(row(v, enc, ort, batch, quick));
                    }
                }
            } catch (OrtException e) {
                rows.add(List.of(name(v), "", "ONNX Runtime failed: " + e.getMessage(), "", "", ""));
            }
        }
        List<String> notes = List.of(
                "sentences/s of the median timed pass after one warm-up; same token ids on both sides, no padding, "
                        + "tokenization not timed; ONNX Runtime " + OrtEnvironment.getEnvironment().getVersion()
                        + " with " + threads + " intra-op threads (Gale's worker pool: " + threads + ")",
                "int8 is the graph's dynamic quantization (uint8 activations x int8 weights); ONNX Runtime takes the "
                        + "activation range over the whole batch, Gale per sentence, so the cosine column compares "
                        + "with ONNX Runtime run on each sentence alone (first " + CHECKED + " of the batch)",
                "the inputs are random vocabulary ids, not text; on them int8 is fragile: Gale's own int8 embedding of "
                        + "one such sentence moved by 0.003 cosine between calls while the JIT was still compiling "
                        + "(float rounding differences in the fp32 parts flip uint8 roundings); models-bert's tests "
                        + "hold int8 to >= 0.999 on real sentences",
                "OpenCL (PoCL) has no encoder path yet: no rows for it");
        return List.of(new Table(TITLE, List.of("model", "batch", "gale sent/s", "onnxruntime sent/s",
                "gale / ort", "cosine vs ort (min)"), rows, notes));
    }

    private static List<String> row(MiniLmFiles.Variant v, BertEncoder enc, OrtSession ort, int batch, boolean quick)
            throws OrtException {
        WordPieceTokenizer.Batch b = batch(batch, enc.config().vocab());
        double budget = quick ? 1.0 : 3.0;
        int minPasses = quick || batch >= 64 ? 3 : 5;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] ids = Arrays.stream(b.ids()).asLongStream().toArray();
        long[] ones = new long[ids.length];
        Arrays.fill(ones, 1);
        long[] shape = {batch, SEQ};
        try (OnnxTensor ti = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape);
             OnnxTensor tm = OnnxTensor.createTensor(env, LongBuffer.wrap(ones), shape);
             OnnxTensor tt = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[ids.length]), shape)) {
            Map<String, OnnxTensor> in = Map.of("input_ids", ti, "attention_mask", tm, "token_type_ids", tt);
            double galeS = median(budget, minPasses, () -> enc.embed(b));
            double ortS = median(budget, minPasses, () -> {
                try (OrtSession.Result r = ort.run(in)) {
                    r.get(0);
                } catch (OrtException e) {
                    throw new IllegalStateException(e);
                }
            });
            // Checked after the timed passes: the answer of the compiled code, not of the first, interpreted pass.
            float[][] gale = enc.embed(b);
            double minCos = 1;
            for (int s = 0; s < Math.min(batch, CHECKED); s++) {
                minCos = Math.min(minCos, cosine(gale[s], ortAlone(ort, env, ids, s)));
            }
            return List.of(name(v), Integer.toString(batch), fmt(batch / galeS), fmt(batch / ortS),
                    String.format(Locale.ROOT, "%.2f", ortS / galeS), String.format(Locale.ROOT, "%.6f", minCos));
        }
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

    /** Seconds of the median pass, after one warm-up pass. */
    private static double median(double budgetSeconds, int minPasses, Runnable pass) {
        pass.run();
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
