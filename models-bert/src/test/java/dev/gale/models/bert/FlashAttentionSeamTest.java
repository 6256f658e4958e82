package dev.gale.models.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The encoder's attention implementations (FlashAttention-2, and the tiled one the encoder uses) against the double
 * reference on a padded batch with ragged lengths; head dims 32 (BERT), 40 (a partial group of vectors in the tiled
 * P·V) and 12 (not whole vectors: the tiled one falls back to flash).
 */
class FlashAttentionSeamTest {
    @ParameterizedTest
    @CsvSource({"flash,32", "tiled,32", "tiled,40", "tiled,12"})
    void matchesTheReferenceOnAPaddedBatch(String impl, int hd) {
        BidirectionalAttention attention = impl.equals("flash") ? new FlashBidirectionalAttention()
                : new TiledBidirectionalAttention();
        int batch = 3;
        int seq = 37;
        int heads = 12;
        int[] lengths = {37, 5, 20};
        float scale = (float) (1 / Math.sqrt(hd));
        long n = (long) batch * seq * heads * hd;
        try (Arena a = Arena.ofShared()) {
            MemorySegment q = a.allocate(4 * n);
            MemorySegment k = a.allocate(4 * n);
            MemorySegment v = a.allocate(4 * n);
            MemorySegment want = a.allocate(4 * n);
            MemorySegment got = a.allocate(4 * n);
            MemorySegment mask = a.allocate((long) batch * seq);
            SplittableRandom r = new SplittableRandom(9);
            for (long i = 0; i < n; i++) {
                q.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) r.nextGaussian());
                k.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) r.nextGaussian());
                v.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) r.nextGaussian());
            }
            for (int b = 0; b < batch; b++) {
                for (int t = 0; t < seq; t++) {
                    mask.set(ValueLayout.JAVA_BYTE, (long) b * seq + t, (byte) (t < lengths[b] ? 1 : 0));
                }
            }
            ReferenceBidirectionalAttention.INSTANCE.attend(q, k, v, want, mask, batch, seq, heads, hd, scale);
            attention.attend(q, k, v, got, mask, batch, seq, heads, hd, scale);
            for (long i = 0; i < n; i++) {
                // Outputs are convex combinations of unit-scale values: 1e-5 relative to that scale.
                assertEquals(want.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i),
                        got.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i), 1e-5 * 3, "element " + i);
            }
        }
    }
}
