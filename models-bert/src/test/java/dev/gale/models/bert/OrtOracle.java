package dev.gale.models.bert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** ONNX Runtime running the same ONNX file: the oracle for Gale's encoder. */
final class OrtOracle {
    private static final ConcurrentHashMap<String, OrtSession> SESSIONS = new ConcurrentHashMap<>();

    private OrtOracle() {
    }

    /** ONNX Runtime with its default (all) graph optimizations. */
    static OrtSession session(String model) {
        return SESSIONS.computeIfAbsent(model, k -> create(MiniLm.onnxBytes(model), OptLevel.ALL_OPT));
    }

    /**
     * ONNX Runtime running the graph as written: basic optimizations only (constant folding, redundant node
     * elimination), which keep every node's arithmetic. The extended level fuses the graph's decomposed LayerNorm
     * into ONNX Runtime's {@code LayerNormalization} kernel, which computes another (less accurate) formula; that
     * changes the int8 model's answer (see {@link OrtLayerNormFusionTest}), so the int8 oracle is this session.
     */
    static OrtSession graphAsWritten(String model) {
        return SESSIONS.computeIfAbsent(model + "#basic", k -> create(MiniLm.onnxBytes(model), OptLevel.BASIC_OPT));
    }

    static OrtSession create(byte[] model, OptLevel level) {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(level);
            return OrtEnvironment.getEnvironment().createSession(model, o);
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    /** last_hidden_state {@code [batch][seq][hidden]} for a padded batch, default session. */
    static float[][][] lastHiddenState(String model, WordPieceTokenizer.Batch b) throws OrtException {
        return lastHiddenState(session(model), b);
    }

    /** last_hidden_state {@code [batch][seq][hidden]} for a padded batch. */
    static float[][][] lastHiddenState(OrtSession session, WordPieceTokenizer.Batch b) throws OrtException {
        long[][] ids = new long[b.size()][b.seq()];
        long[][] mask = new long[b.size()][b.seq()];
        long[][] types = new long[b.size()][b.seq()];
        for (int i = 0; i < b.size(); i++) {
            for (int t = 0; t < b.seq(); t++) {
                ids[i][t] = b.ids()[i * b.seq() + t];
                mask[i][t] = b.mask()[i * b.seq() + t];
            }
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxTensor ti = OnnxTensor.createTensor(env, ids); OnnxTensor tm = OnnxTensor.createTensor(env, mask);
                OnnxTensor tt = OnnxTensor.createTensor(env, types);
                OrtSession.Result r = session.run(Map.of("input_ids", ti, "attention_mask", tm,
                        "token_type_ids", tt))) {
            return (float[][][]) r.get(0).getValue();
        }
    }

    /** Mean over the real tokens, L2 normalised, in double (what LangChain4j computes from the same output). */
    static double[] pooled(float[][] hidden, byte[] mask, int row, int seq) {
        double[] s = new double[hidden[0].length];
        int n = 0;
        for (int t = 0; t < seq; t++) {
            if (mask[row * seq + t] != 0) {
                n++;
                for (int i = 0; i < s.length; i++) {
                    s[i] += hidden[t][i];
                }
            }
        }
        double norm = 0;
        for (int i = 0; i < s.length; i++) {
            s[i] /= n;
            norm += s[i] * s[i];
        }
        norm = Math.sqrt(norm);
        for (int i = 0; i < s.length; i++) {
            s[i] /= norm;
        }
        return s;
    }

    static double cosine(float[] a, double[] b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }
}
