package dev.gale.models;

import dev.gale.models.gguf.LlamaGguf;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import dev.gale.models.tokenizer.Llama2cTokenizerFile;
import dev.gale.models.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opening a model the way the command line names it: a GGUF file, or a llama2.c checkpoint with its tokenizer. */
public final class ModelFiles {
    private ModelFiles() {
    }

    public static LlamaModel load(Path model) {
        return model.getFileName().toString().endsWith(".gguf") ? LlamaGguf.load(model)
                : Llama2cCheckpoint.load(model);
    }

    /**
     * The model's tokenizer: the one its GGUF file embeds, else {@code tokenizer}, else {@code tok512.bin} next to a
     * llama2.c checkpoint (where llama2.c's stories260K keeps it).
     */
    public static Tokenizer tokenizer(LlamaModel m, Path model, Path tokenizer) {
        if (tokenizer != null) {
            return Llama2cTokenizerFile.read(tokenizer, m.config().vocab());
        }
        if (m.tokenizer().isPresent()) {
            return m.tokenizer().get();
        }
        Path sibling = model.resolveSibling("tok512.bin");
        if (!Files.isReadable(sibling)) {
            throw new IllegalArgumentException(model + " carries no tokenizer; pass --tokenizer FILE");
        }
        return Llama2cTokenizerFile.read(sibling, m.config().vocab());
    }
}
