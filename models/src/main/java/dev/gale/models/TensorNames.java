package dev.gale.models;

/**
 * Tensor names for every loader, in GGUF's llama convention, so a model read from llama2.c and one read from GGUF
 * name their tensors alike and the GGUF writer needs no mapping table.
 */
public final class TensorNames {
    public static final String TOKEN_EMBEDDING = "token_embd.weight";
    public static final String FINAL_NORM = "output_norm.weight";
    public static final String CLASSIFIER = "output.weight";

    private TensorNames() {
    }

    /** {@code blk.N.<part>.weight}; parts: attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_down, ffn_up. */
    public static String layer(int layer, String part) {
        return "blk." + layer + "." + part + ".weight";
    }
}
