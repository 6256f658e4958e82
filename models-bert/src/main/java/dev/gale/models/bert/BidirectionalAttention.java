package dev.gale.models.bert;

import java.lang.foreign.MemorySegment;

/**
 * The one attention call an encoder layer makes: every query of a sentence sees every real key of that sentence
 * (no causal mask), padding keys are masked out. This is the seam where a prefill kernel plugs in; see
 * {@link ReferenceBidirectionalAttention} for the one used until FlashAttention-2 prefill lands.
 */
public interface BidirectionalAttention {
    /**
     * @param q       queries, token-major F32 {@code [batch][seq][heads][headDim]} at offset 0
     * @param k       keys, same layout
     * @param v       values, same layout
     * @param out     output, same layout (may not alias q, k or v)
     * @param keyMask U8 {@code [batch][seq]}: 1 for a real token, 0 for padding
     * @param scale   score scale ({@code 1/√headDim} for BERT)
     */
    void attend(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment out, MemorySegment keyMask,
            int batch, int seq, int heads, int headDim, float scale);
}
