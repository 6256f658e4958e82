package dev.gale.kernels.attention;

/**
 * The shape and masking of one attention call, shared by every schedule and precision.
 *
 * @param heads   query heads {@code Hq}
 * @param kvHeads KV heads {@code Hkv}; must divide {@code heads}
 * @param headDim {@code d}
 * @param causal  bottom-right aligned causal mask
 * @param window  sliding window in keys (counting the query's own diagonal key), or 0 for none; only meaningful
 *                with {@code causal}
 * @param scale   score scale, usually {@code 1/√d}
 */
public record AttentionSpec(int heads, int kvHeads, int headDim, boolean causal, int window, float scale) {
    public AttentionSpec {
        if (heads < 1 || kvHeads < 1 || heads % kvHeads != 0) {
            throw new IllegalArgumentException("attention: heads (" + heads + ") must be a positive multiple of "
                    + "kvHeads (" + kvHeads + ")");
        }
        if (headDim < 1) {
            throw new IllegalArgumentException("attention: headDim must be >= 1, got " + headDim);
        }
        if (window < 0 || (window > 0 && !causal)) {
            throw new IllegalArgumentException("attention: window must be 0, or > 0 with a causal mask; got "
                    + window + (causal ? "" : " without causal"));
        }
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("attention: scale must be finite and > 0, got " + scale);
        }
    }

    /** The usual spec: scale {@code 1/√d}, no window. */
    public static AttentionSpec of(int heads, int kvHeads, int headDim, boolean causal) {
        return new AttentionSpec(heads, kvHeads, headDim, causal, 0, (float) (1.0 / Math.sqrt(headDim)));
    }

    public AttentionSpec withWindow(int w) {
        return new AttentionSpec(heads, kvHeads, headDim, true, w, scale);
    }

    /** Query heads per KV head. */
    public int group() {
        return heads / kvHeads;
    }

    /**
     * The first key (inclusive) query {@code i} of {@code nq} may see among {@code nk} keys; with
     * {@link #lastKey} it bounds the keys the masks leave (padding aside).
     */
    public int firstKey(int i, int nq, int nk) {
        if (window == 0) {
            return 0;
        }
        return Math.max(0, lastKey(i, nq, nk) - window + 1);
    }

    /** The last key (inclusive) query {@code i} of {@code nq} may see among {@code nk} keys; −1 if none. */
    public int lastKey(int i, int nq, int nk) {
        if (!causal) {
            return nk - 1;
        }
        return Math.min(nk - 1, i + nk - nq);
    }
}
