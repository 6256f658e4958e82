package dev.gale.kernels.attention;

/**
 * One layer's cached keys and values for a batch of sequences, in one precision and one addressing scheme: what
 * every decode schedule reads on the CPU. Implementations own the inner loop (with dequantisation or on-the-fly RoPE
 * fused into it), so a schedule only decides which worker folds which token range into which partial state.
 *
 * <p>A <em>tile</em> is one (sequence, KV head) pair, {@code tile = seq · kvHeads + kvHead}; its {@code g} query heads
 * ({@code Hq / Hkv}) are processed together so each key and value is read once per KV head.
 */
public interface DecodeKv {
    int sequences();

    int kvHeads();

    int headDim();

    /** Tokens cached for sequence {@code seq}. */
    int length(int seq);

    /**
     * Folds tokens {@code [from, to)} of {@code (seq, kvHead)} into the {@code g} states at {@code st[stOff …]}
     * (layout of {@link SoftmaxState}), for the {@code g} query rows at {@code q[qOff …]} ({@code g·d} floats, already
     * multiplied by the score scale). Allocates nothing; {@code scratch} holds at least
     * {@link #scratchFloats(int, int)} floats and belongs to the calling worker.
     */
    void accumulate(int seq, int kvHead, int from, int to, float[] q, int qOff, int g, float[] st, int stOff,
            float[] scratch);

    /** Scratch floats {@link #accumulate} needs for a range of up to {@code tokens} tokens and {@code g} rows. */
    int scratchFloats(int tokens, int g);

    /**
     * Range boundaries inside a sequence should be multiples of this (a quantization group), except at the end of
     * the cached tokens; 1 when any boundary will do.
     */
    default int blockAlign() {
        return 1;
    }

    /** A short name of the precision and addressing for reports, for example {@code f16} or {@code int4-kivi}. */
    String describe();

    /** Bytes the cache holds per token per layer (keys and values of every KV head, scales included). */
    double bytesPerToken();
}
