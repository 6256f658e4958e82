package dev.gale.models.bert;

import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.FlashPrefill;
import dev.gale.kernels.attention.HeadView;
import dev.gale.kernels.attention.PrefillBatch;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link BidirectionalAttention} through {@link FlashPrefill}, the FlashAttention-2 Vector API kernel: the padded batch
 * is one varlen batch of equal-length sequences whose padding keys the mask removes. One kernel instance per shape
 * (its per-worker tiles are sized by heads and head dim), kept for the encoder's lifetime.
 */
public final class FlashBidirectionalAttention implements BidirectionalAttention {
    private final ConcurrentHashMap<String, FlashPrefill> kernels = new ConcurrentHashMap<>();

    @Override
    public void attend(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment out, MemorySegment keyMask,
            int batch, int seq, int heads, int headDim, float scale) {
        FlashPrefill f = kernels.computeIfAbsent(heads + "x" + headDim + "@" + scale,
                key -> new FlashPrefill(new AttentionSpec(heads, heads, headDim, false, 0, scale)));
        int[] lens = new int[batch];
        Arrays.fill(lens, seq);
        f.apply(PrefillBatch.packed(lens, lens), HeadView.tokenMajor(q, 0, heads, headDim),
                HeadView.tokenMajor(k, 0, heads, headDim), HeadView.tokenMajor(v, 0, heads, headDim),
                HeadView.tokenMajor(out, 0, heads, headDim), keyMask, 0);
    }
}
