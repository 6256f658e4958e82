package dev.gale.models;

import dev.gale.core.buffer.Buffer;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every weight of a Llama decoder. With a tied classifier {@link #classifier()} is the same object as
 * {@link #tokenEmbedding()}. Matrices are {@code [out, in]}; norms are {@code [dim]}.
 *
 * @param backing the buffers the tensors are views of (mappings), closed together by {@link #close()}
 */
public record LlamaWeights(WeightTensor tokenEmbedding, List<Layer> layers, WeightTensor finalNorm,
        WeightTensor classifier, List<Buffer> backing) implements AutoCloseable {

    /** One transformer block; w1 is the gate, w3 the up projection, w2 the down projection. */
    public record Layer(WeightTensor attnNorm, WeightTensor wq, WeightTensor wk, WeightTensor wv, WeightTensor wo,
            WeightTensor ffnNorm, WeightTensor w1, WeightTensor w2, WeightTensor w3) {
        public List<WeightTensor> all() {
            return List.of(attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3);
        }
    }

    public LlamaWeights {
        layers = List.copyOf(layers);
        backing = List.copyOf(backing);
    }

    public boolean tiedClassifier() {
        return classifier == tokenEmbedding;
    }

    /** Every distinct tensor, in GGUF's conventional order (the classifier once, and only when untied). */
    public List<WeightTensor> all() {
        Map<WeightTensor, Boolean> seen = new IdentityHashMap<>();
        java.util.ArrayList<WeightTensor> out = new java.util.ArrayList<>();
        out.add(tokenEmbedding);
        layers.forEach(l -> out.addAll(l.all()));
        out.add(finalNorm);
        out.add(classifier);
        out.removeIf(t -> seen.put(t, Boolean.TRUE) != null);
        return out;
    }

    @Override
    public void close() {
        backing.forEach(Buffer::close);
    }
}
