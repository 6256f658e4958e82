package dev.gale.models.llama;

import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import dev.gale.models.LlamaConfig;

/** The rotary table of a Llama model: llama2.c and GGUF llama files rotate adjacent pairs. */
final class Rope {
    private Rope() {
    }

    static RopeTable table(LlamaConfig c, int positions) {
        return new RopeTable(positions, c.headDim(), c.ropeTheta(), RopeLayout.ADJACENT_PAIRS);
    }
}
