package dev.gale.models;

import dev.gale.models.tokenizer.Tokenizer;
import java.util.Optional;

/** A decoder's configuration and weights, with the tokenizer when the file carries one (GGUF does, llama2.c not). */
public record LlamaModel(LlamaConfig config, LlamaWeights weights, Optional<Tokenizer> tokenizer)
        implements AutoCloseable {
    @Override
    public void close() {
        weights.close();
    }
}
