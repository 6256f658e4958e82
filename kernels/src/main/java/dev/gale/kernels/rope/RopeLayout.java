package dev.gale.kernels.rope;

/** Which elements of a head vector rotary embedding pairs up. */
public enum RopeLayout {
    /**
     * Adjacent pairs {@code (x0,x1), (x2,x3), …}, pair {@code i} rotated by {@code pos·θ^(−2i/d)}: Meta's Llama
     * reference, llama2.c, GGUF Llama ("normal" rope in ggml).
     */
    ADJACENT_PAIRS,
    /**
     * Half split {@code (x_i, x_{i+d/2})}, pair {@code i} rotated by the same angle: GPT-NeoX and Hugging Face
     * {@code rotate_half} (ggml's "neox" rope). The same rotation as {@link #ADJACENT_PAIRS} up to a permutation of
     * the head dimensions.
     */
    HALF_SPLIT
}
