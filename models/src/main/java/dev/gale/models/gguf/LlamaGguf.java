package dev.gale.models.gguf;

import dev.gale.core.buffer.Buffer;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.LlamaWeights;
import dev.gale.models.TensorNames;
import dev.gale.models.WeightConversion;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import dev.gale.models.format.ModelFormatException;
import dev.gale.models.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * A Llama decoder in GGUF: {@code llama.*} keys to a {@link LlamaConfig}, the llama tensor names to
 * {@link LlamaWeights} (mapped, zero copy), and the embedded tokenizer; and the reverse, writing a model with its
 * matrices converted to one weight type.
 */
public final class LlamaGguf {
    private static final long MAX_INT = Integer.MAX_VALUE;

    private LlamaGguf() {
    }

    /** What {@link #write} stored: the tensors that kept F32 because their rows are not whole blocks. */
    public record WriteReport(Path file, WeightType type, List<String> keptF32) {
    }

    public static LlamaModel load(Path path) {
        GgufFile g = GgufReader.read(path);
        GgufMetadata m = g.metadata();
        String arch = m.string("general.architecture");
        if (!arch.equals("llama")) {
            throw m.error("general.architecture", "architecture '" + arch + "' is not llama");
        }
        LlamaConfig c = config(g);
        Optional<Tokenizer> tokenizer = GgufVocabulary.present(m) ? Optional.of(GgufVocabulary.read(m))
                : Optional.empty();
        if (tokenizer.isPresent() && tokenizer.get().size() != c.vocab()) {
            throw m.error(GgufVocabulary.TOKENS, tokenizer.get().size() + " tokens for a vocabulary of " + c.vocab());
        }
        if (W4AxGguf.present(m)) {
            return W4AxGguf.load(g, c, tokenizer);
        }
        return new LlamaModel(c, weights(g, c), tokenizer);
    }

    private static LlamaConfig config(GgufFile g) {
        GgufMetadata m = g.metadata();
        int dim = (int) m.integer("llama.embedding_length", 1, MAX_INT);
        int hidden = (int) m.integer("llama.feed_forward_length", 1, MAX_INT);
        int layers = (int) m.integer("llama.block_count", 1, MAX_INT);
        int heads = (int) m.integer("llama.attention.head_count", 1, MAX_INT);
        int kvHeads = (int) m.integer("llama.attention.head_count_kv", 1, MAX_INT, heads);
        int seqLen = (int) m.integer("llama.context_length", 1, MAX_INT);
        float eps = m.float32("llama.attention.layer_norm_rms_epsilon", Float.NaN);
        float theta = m.float32("llama.rope.freq_base", 10000f);
        GgufTensorInfo embd = g.tensor(TensorNames.TOKEN_EMBEDDING);
        long vocab = embd.dims().length == 2 ? embd.dims()[1] : -1;
        if (vocab < 1 || vocab > MAX_INT) {
            throw new ModelFormatException(g.path(), TensorNames.TOKEN_EMBEDDING, embd.infoOffset(),
                    "dims " + Arrays.toString(embd.dims()) + " are not [dim, vocab]");
        }
        String problem = LlamaConfig.problem(dim, hidden, layers, heads, kvHeads, vocab, seqLen);
        if (problem != null) {
            throw m.error("llama.attention.head_count", problem);
        }
        if (!(eps > 0) || !(theta > 0)) {
            throw m.error(!(eps > 0) ? "llama.attention.layer_norm_rms_epsilon" : "llama.rope.freq_base",
                    "must be a positive number (eps " + eps + ", freq_base " + theta + ")");
        }
        long rope = m.integer("llama.rope.dimension_count", 1, MAX_INT, dim / heads);
        if (rope != dim / heads) {
            throw m.error("llama.rope.dimension_count", "partial RoPE (" + rope + " of " + dim / heads
                    + " head dims) is not supported");
        }
        boolean shared = !g.tensors().containsKey(TensorNames.CLASSIFIER);
        return new LlamaConfig(dim, hidden, layers, heads, kvHeads, (int) vocab, seqLen, theta, eps, shared);
    }

    private static LlamaWeights weights(GgufFile g, LlamaConfig c) {
        List<Buffer> backing = new ArrayList<>();
        try {
            long dim = c.dim();
            long kv = c.kvDim();
            long hid = c.hiddenDim();
            Mapper map = new Mapper(g, backing);
            WeightTensor embd = map.get(TensorNames.TOKEN_EMBEDDING, c.vocab(), dim);
            List<LlamaWeights.Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.layers(); i++) {
                layers.add(new LlamaWeights.Layer(
                        map.get(TensorNames.layer(i, "attn_norm"), dim),
                        map.get(TensorNames.layer(i, "attn_q"), dim, dim),
                        map.get(TensorNames.layer(i, "attn_k"), kv, dim),
                        map.get(TensorNames.layer(i, "attn_v"), kv, dim),
                        map.get(TensorNames.layer(i, "attn_output"), dim, dim),
                        map.get(TensorNames.layer(i, "ffn_norm"), dim),
                        map.get(TensorNames.layer(i, "ffn_gate"), hid, dim),
                        map.get(TensorNames.layer(i, "ffn_down"), dim, hid),
                        map.get(TensorNames.layer(i, "ffn_up"), hid, dim)));
            }
            WeightTensor norm = map.get(TensorNames.FINAL_NORM, dim);
            WeightTensor cls = c.sharedClassifier() ? embd : map.get(TensorNames.CLASSIFIER, c.vocab(), dim);
            return new LlamaWeights(embd, layers, norm, cls, backing);
        } catch (RuntimeException e) {
            backing.forEach(Buffer::close);
            throw e;
        }
    }

    /** Maps tensors after checking their shape against the config. */
    private record Mapper(GgufFile g, List<Buffer> backing) {
        WeightTensor get(String name, long... shape) {
            GgufTensorInfo t = g.tensor(name);
            if (!Arrays.equals(t.shape(), shape)) {
                throw new ModelFormatException(g.path(), name, t.infoOffset(), "shape " + Arrays.toString(t.shape())
                        + " does not match the config's " + Arrays.toString(shape));
            }
            WeightTensor w = g.map(name);
            backing.add(w.data());
            return w;
        }
    }

    /**
     * Writes {@code model} as GGUF with its matrices as {@code type}. Norms stay F32, as in llama.cpp; a matrix
     * whose rows are not whole {@code type} blocks (stories260K's ffn_down, rows of 172) is written as F32 and listed
     * in the report, for the decoder to handle.
     */
    public static WriteReport write(LlamaModel model, WeightType type, Path out) {
        GgufWriter w = new GgufWriter();
        putConfig(w, model.config(), type);
        model.tokenizer().ifPresent(t -> GgufVocabulary.write(t, w));
        List<String> keptF32 = new ArrayList<>();
        for (WeightTensor t : model.weights().all()) {
            WeightType target = t.shape().length == 1 ? WeightType.F32 : type;
            if (!WeightConversion.fits(t, target)) {
                keptF32.add(t.name());
                target = WeightType.F32;
            }
            WeightType chosen = target;
            w.tensor(t.name(), chosen, t.shape(), dst -> WeightConversion.convert(t, chosen, dst));
        }
        w.write(out);
        return new WriteReport(out, type, List.copyOf(keptF32));
    }

    /** The {@code general.*} and {@code llama.*} keys of a Llama model whose matrices are {@code type}. */
    public static void putConfig(GgufWriter w, LlamaConfig c, WeightType type) {
        w.put("general.architecture", GgufValue.string("llama"))
                .put("general.alignment", GgufValue.u32(GgufReader.DEFAULT_ALIGNMENT))
                .put("general.file_type", GgufValue.u32(fileType(type)));
        if (type.isQuantized()) {
            w.put("general.quantization_version", GgufValue.u32(2));
        }
        w.put("llama.context_length", GgufValue.u32(c.seqLen()))
                .put("llama.embedding_length", GgufValue.u32(c.dim()))
                .put("llama.block_count", GgufValue.u32(c.layers()))
                .put("llama.feed_forward_length", GgufValue.u32(c.hiddenDim()))
                .put("llama.rope.dimension_count", GgufValue.u32(c.headDim()))
                .put("llama.attention.head_count", GgufValue.u32(c.heads()))
                .put("llama.attention.head_count_kv", GgufValue.u32(c.kvHeads()))
                .put("llama.attention.layer_norm_rms_epsilon", GgufValue.f32(c.normEps()))
                .put("llama.rope.freq_base", GgufValue.f32(c.ropeTheta()))
                .put("llama.vocab_size", GgufValue.u32(c.vocab()));
    }

    /** llama.cpp's {@code llama_ftype}: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7. */
    private static long fileType(WeightType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case I8 -> throw new IllegalArgumentException("no llama.cpp file type is mostly I8");
        };
    }
}
