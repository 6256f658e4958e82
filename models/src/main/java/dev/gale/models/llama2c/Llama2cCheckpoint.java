package dev.gale.models.llama2c;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.LlamaWeights;
import dev.gale.models.TensorNames;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import dev.gale.models.format.BoundedReader;
import dev.gale.models.format.MappedFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Loads a llama2.c checkpoint (legacy or version 1, fp32). The whole layout is computed from the validated header
 * with overflow-checked arithmetic and must end exactly at the end of the file before anything is mapped; each
 * stacked tensor is then mapped once, read-only, and every layer's tensor is a view of it (zero copy).
 *
 * <p>Layouts, per llama2.c's {@code export.py}: legacy: token embedding, attention norms, wq, wk, wv, wo, FFN norms,
 * w1, w2, w3, final norm, the two RoPE tables (skipped), classifier if not shared. Version 1: attention norms, FFN
 * norms, final norm, token embedding, wq, wk, wv, wo, w1, w2, w3, classifier if not shared.
 */
public final class Llama2cCheckpoint {
    private Llama2cCheckpoint() {
    }

    /** One stacked group: {@code count} tensors of {@code shape}, back to back at {@code offset}. */
    private record Group(String name, long offset, int count, long[] shape, long elements) {
    }

    public static LlamaModel load(Path file) {
        Llama2cHeader header;
        Map<String, Group> groups;
        try (MappedFile f = MappedFile.open(file)) {
            header = Llama2cHeader.read(f);
            groups = layout(f.reader(header.dataOffset()), header);
        }
        return new LlamaModel(header.config(), map(file, header.config(), groups), Optional.empty());
    }

    private static Map<String, Group> layout(BoundedReader r, Llama2cHeader h) {
        LlamaConfig c = h.config();
        long dim = c.dim();
        long hidden = c.hiddenDim();
        long kvDim = (long) c.kvHeads() * c.headDim();
        long vocab = c.vocab();
        int layers = c.layers();
        Map<String, Group> g = new LinkedHashMap<>();
        Layouter l = new Layouter(r, g);
        if (h.version() == 0) {
            l.add("tok_embeddings", 1, vocab, dim);
            l.add("rms_att", layers, dim);
            l.add("wq", layers, dim, dim);
            l.add("wk", layers, kvDim, dim);
            l.add("wv", layers, kvDim, dim);
            l.add("wo", layers, dim, dim);
            l.add("rms_ffn", layers, dim);
            l.add("w1", layers, hidden, dim);
            l.add("w2", layers, dim, hidden);
            l.add("w3", layers, hidden, dim);
            l.add("rms_final", 1, dim);
            // The legacy RoPE tables (cos and sin, seq_len × head_size/2 each): Gale computes RoPE itself.
            l.add("freq_cis_real", 1, c.seqLen(), c.headDim() / 2);
            l.add("freq_cis_imag", 1, c.seqLen(), c.headDim() / 2);
        } else {
            l.add("rms_att", layers, dim);
            l.add("rms_ffn", layers, dim);
            l.add("rms_final", 1, dim);
            l.add("tok_embeddings", 1, vocab, dim);
            l.add("wq", layers, dim, dim);
            l.add("wk", layers, kvDim, dim);
            l.add("wv", layers, kvDim, dim);
            l.add("wo", layers, dim, dim);
            l.add("w1", layers, hidden, dim);
            l.add("w2", layers, dim, hidden);
            l.add("w3", layers, hidden, dim);
        }
        if (!c.sharedClassifier()) {
            l.add("wcls", 1, vocab, dim);
        }
        if (r.remaining() != 0) {
            throw r.error("end of tensors", r.position(), r.remaining() + " bytes follow the last tensor; the header"
                    + " does not describe this file (wrong sizes or classifier flag?)");
        }
        return g;
    }

    /** Advances the cursor over each group, so a group past the end fails naming that group and its offset. */
    private record Layouter(BoundedReader r, Map<String, Group> groups) {
        void add(String name, int count, long... shape) {
            long at = r.position();
            long per = 1;
            for (long d : shape) {
                per = r.multiply(name, at, per, d);
            }
            long bytes = r.multiply(name, at, r.multiply(name, at, per, count), Float.BYTES);
            r.skip(name, bytes);
            groups.put(name, new Group(name, at, count, shape, per));
        }
    }

    private static LlamaWeights map(Path file, LlamaConfig c, Map<String, Group> groups) {
        List<Buffer> backing = new ArrayList<>();
        try {
            Map<String, Buffer> mapped = new LinkedHashMap<>();
            for (Group g : groups.values()) {
                if (!g.name().startsWith("freq_cis")) {
                    Buffer b = Buffers.map(file, DType.F32, g.offset(), g.elements() * g.count(), false);
                    backing.add(b);
                    mapped.put(g.name(), b);
                }
            }
            Stacked s = new Stacked(groups, mapped);
            WeightTensor embedding = s.tensor("tok_embeddings", 0, TensorNames.TOKEN_EMBEDDING);
            List<LlamaWeights.Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.layers(); i++) {
                layers.add(new LlamaWeights.Layer(
                        s.tensor("rms_att", i, TensorNames.layer(i, "attn_norm")),
                        s.tensor("wq", i, TensorNames.layer(i, "attn_q")),
                        s.tensor("wk", i, TensorNames.layer(i, "attn_k")),
                        s.tensor("wv", i, TensorNames.layer(i, "attn_v")),
                        s.tensor("wo", i, TensorNames.layer(i, "attn_output")),
                        s.tensor("rms_ffn", i, TensorNames.layer(i, "ffn_norm")),
                        s.tensor("w1", i, TensorNames.layer(i, "ffn_gate")),
                        s.tensor("w2", i, TensorNames.layer(i, "ffn_down")),
                        s.tensor("w3", i, TensorNames.layer(i, "ffn_up"))));
            }
            WeightTensor classifier = c.sharedClassifier() ? embedding : s.tensor("wcls", 0, TensorNames.CLASSIFIER);
            return new LlamaWeights(embedding, layers, s.tensor("rms_final", 0, TensorNames.FINAL_NORM), classifier,
                    backing);
        } catch (RuntimeException e) {
            backing.forEach(Buffer::close);
            throw e;
        }
    }

    private record Stacked(Map<String, Group> groups, Map<String, Buffer> mapped) {
        WeightTensor tensor(String group, int index, String name) {
            Group g = groups.get(group);
            Buffer view = mapped.get(group).slice(index * g.elements(), g.elements());
            return new WeightTensor(name, WeightType.F32, g.shape(), view);
        }
    }
}
