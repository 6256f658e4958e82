package dev.gale.models;

import dev.gale.models.tokenizer.Tokenizer;
import java.util.Optional;

/**
 * A decoder's configuration and weights, with the tokenizer when the file carries one (GGUF does, llama2.c not), and
 * the W4Ax form of its matrices when it was calibrated ({@link W4AxMatrices}; then the matrices in {@code weights}
 * are the I8 code tensors those describe).
 */
public record LlamaModel(LlamaConfig config, LlamaWeights weights, Optional<Tokenizer> tokenizer,
        Optional<W4AxMatrices> w4ax) implements AutoCloseable {
    public LlamaModel(LlamaConfig config, LlamaWeights weights, Optional<Tokenizer> tokenizer) {
        this(config, weights, tokenizer, Optional.empty());
    }

    @Override
    public void close() {
        weights.close();
    }
}
