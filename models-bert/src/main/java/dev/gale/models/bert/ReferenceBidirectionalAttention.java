package dev.gale.models.bert;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.attention.AttentionReference;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.HeadView;
import java.lang.foreign.MemorySegment;

/**
 * {@link BidirectionalAttention} through {@link AttentionReference}: double precision, one sentence per worker of
 * {@link WorkerPool#shared()}. Exact to F32 output rounding but slow (scalar, element-by-element view reads): the
 * reference the encoder's {@link FlashBidirectionalAttention} is checked against.
 */
public final class ReferenceBidirectionalAttention implements BidirectionalAttention {
    public static final ReferenceBidirectionalAttention INSTANCE = new ReferenceBidirectionalAttention();

    private ReferenceBidirectionalAttention() {
    }

    @Override
    public void attend(MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment out, MemorySegment keyMask,
            int batch, int seq, int heads, int headDim, float scale) {
        AttentionSpec spec = new AttentionSpec(heads, heads, headDim, false, 0, scale);
        long sentenceBytes = (long) seq * heads * headDim * Float.BYTES;
        WorkerPool.shared().parallelFor(batch, 1, (s, e) -> {
            for (int b = s; b < e; b++) {
                long off = b * sentenceBytes;
                AttentionReference.attend(spec, HeadView.tokenMajor(q, off, heads, headDim),
                        HeadView.tokenMajor(k, off, heads, headDim), HeadView.tokenMajor(v, off, heads, headDim),
                        HeadView.tokenMajor(out, off, heads, headDim), seq, seq, keyMask, (long) b * seq, null, null);
            }
        });
    }
}
