package dev.gale.models;

/**
 * The hyperparameters of a Llama-family decoder. Loaders validate each field against the file (and fail with a
 * {@link dev.gale.models.format.ModelFormatException} naming it) before building one; the checks here guard
 * programmatic construction.
 *
 * @param dim              model (embedding) width
 * @param hiddenDim        feed-forward width (rows of w1/w3)
 * @param layers           transformer blocks
 * @param heads            query heads
 * @param kvHeads          key/value heads (GQA when fewer than {@code heads})
 * @param vocab            vocabulary size
 * @param seqLen           maximum positions (KV cache length)
 * @param ropeTheta        RoPE frequency base
 * @param normEps          RMSNorm epsilon
 * @param sharedClassifier whether the classifier is the token embedding
 */
public record LlamaConfig(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocab, int seqLen,
        float ropeTheta, float normEps, boolean sharedClassifier) {

    /** llama2.c's fixed values: its checkpoints carry neither. */
    public static final float LLAMA2C_ROPE_THETA = 10000f;
    public static final float LLAMA2C_NORM_EPS = 1e-5f;

    public LlamaConfig {
        String problem = problem(dim, hiddenDim, layers, heads, kvHeads, vocab, seqLen);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        if (!(ropeTheta > 0) || !(normEps > 0)) {
            throw new IllegalArgumentException("ropeTheta " + ropeTheta + " and normEps " + normEps + " must be > 0");
        }
    }

    /** Why these sizes cannot form a decoder, or null when they can; shared by the constructor and the loaders. */
    public static String problem(long dim, long hiddenDim, long layers, long heads, long kvHeads, long vocab,
            long seqLen) {
        if (dim <= 0 || hiddenDim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocab <= 0 || seqLen <= 0) {
            return "every size must be positive";
        }
        if (dim % heads != 0) {
            return "dim " + dim + " is not a multiple of heads " + heads;
        }
        if (heads % kvHeads != 0) {
            return "heads " + heads + " is not a multiple of kvHeads " + kvHeads;
        }
        if ((dim / heads) % 2 != 0) {
            return "head size " + dim / heads + " is odd; RoPE rotates pairs";
        }
        return null;
    }

    public int headDim() {
        return dim / heads;
    }

    /** Width of K and V: {@code kvHeads · headDim}. */
    public int kvDim() {
        return kvHeads * headDim();
    }

    /** Query heads per KV head. */
    public int kvMul() {
        return heads / kvHeads;
    }
}
