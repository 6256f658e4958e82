package dev.gale.kernels.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("vector")
class NucleusSamplerTest {
    /**
     * llama2.c's {@code random_u32}/{@code random_f32} compiled from its C source with gcc gave these values for
     * seeds 42 and 1234567.
     */
    @Test
    void xorshiftDrawsLlama2cCoins() {
        Xorshift a = new Xorshift(42);
        assertEquals(1456360119L, Integer.toUnsignedLong(a.nextInt()));
        assertEquals(3359763283L, Integer.toUnsignedLong(a.nextInt()));
        assertEquals(3393612768L, Integer.toUnsignedLong(a.nextInt()));
        assertEquals(4054632243L, Integer.toUnsignedLong(a.nextInt()));
        Xorshift b = new Xorshift(1234567);
        assertEquals(0.824366093f, b.nextCoin());
        assertEquals(0.640456557f, b.nextCoin());
        assertEquals(0.940166175f, b.nextCoin());
        assertThrows(IllegalArgumentException.class, () -> new Xorshift(0));
    }

    /**
     * The definition, checked without the reference: over an even grid of K coins each token of the nucleus is drawn
     * in proportion to its probability renormalised over the nucleus (to within one grid step), and nothing outside
     * the nucleus is ever drawn.
     */
    @Test
    void drawsFollowTheRenormalisedNucleus() {
        float[] logits = {2f, 0f, 1f, -1f, 2f, 0.5f, -3f, 1.5f};
        float temp = 0.8f;
        float topP = 0.7f;
        int n = logits.length;
        double[] p = new double[n];
        double s = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp((logits[i] - 2.0) / temp);
            s += p[i];
        }
        // Sorted: tokens 0 and 4 (tied), then 7, then 2, … The first with cumulative mass above 0.7·S decides τ.
        double cum = 0;
        double tau = 0;
        int[] byRank = {0, 4, 7, 2, 5, 1, 3, 6};
        for (int i : byRank) {
            cum += p[i];
            if (cum > topP * s) {
                tau = p[i];
                break;
            }
        }
        double mass = 0;
        for (double v : p) {
            mass += v >= tau ? v : 0;
        }
        int k = 20000;
        int[] count = new int[n];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * n);
            MemorySegment probs = arena.allocate(4L * n);
            for (int i = 0; i < n; i++) {
                x.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, logits[i]);
            }
            int[] cand = new int[n];
            for (int j = 0; j < k; j++) {
                float coin = (j + 0.5f) / k;
                count[NucleusSampler.apply(x, 0, n, temp, topP, coin, probs, cand)]++;
            }
        }
        for (int i = 0; i < n; i++) {
            double want = p[i] >= tau ? p[i] / mass : 0;
            assertEquals(want, count[i] / (double) k, 2.0 / k, "token " + i);
        }
        assertTrue(count[3] == 0 && count[6] == 0);
    }

    @Test
    void vectorPathDrawsTheReferenceTokenAwayFromRoundingTies() {
        SplittableRandom r = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            for (int n : new int[] {1, 2, 9, 100, 4099, 32000}) {
                MemorySegment x = arena.allocate(4L * n);
                MemorySegment probs = arena.allocate(4L * n);
                int[] cand = new int[n];
                for (int i = 0; i < n; i++) {
                    x.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (r.nextGaussian() * 2));
                }
                int same = 0;
                int draws = 0;
                for (float topP : new float[] {0.1f, 0.5f, 0.95f, 1f}) {
                    for (int j = 0; j < 20; j++) {
                        float coin = (float) r.nextDouble();
                        int want = NucleusSampler.reference(x, 0, n, 1.1f, topP, coin);
                        int got = NucleusSampler.apply(x, 0, n, 1.1f, topP, coin, probs, cand);
                        draws++;
                        same += want == got ? 1 : 0;
                    }
                }
                // F32 masses may move a coin that falls within ~1e-6 of a boundary; 80 random coins essentially
                // never do, so all but at most one draw must agree.
                assertTrue(same >= draws - 1, "n=" + n + ": " + same + " of " + draws + " draws agree");
            }
        }
    }

    @Test
    void nonFiniteLogitsSampleMinusOneAndBadSettingsAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * 20);
            MemorySegment probs = arena.allocate(4L * 20);
            x.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 13, Float.NaN);
            assertEquals(-1, NucleusSampler.apply(x, 0, 20, 1f, 0.9f, 0.5f, probs, new int[20]));
            assertEquals(-1, NucleusSampler.reference(x, 0, 20, 1f, 0.9f, 0.5f));
            x.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 13, Float.NEGATIVE_INFINITY);
            assertEquals(-1, NucleusSampler.apply(x, 0, 20, 1f, 0.9f, 0.5f, probs, new int[20]));
            assertThrows(IllegalArgumentException.class,
                    () -> NucleusSampler.apply(x, 0, 20, 0f, 0.9f, 0.5f, probs, new int[20]));
            assertThrows(IllegalArgumentException.class,
                    () -> NucleusSampler.apply(x, 0, 20, 1f, 0f, 0.5f, probs, new int[20]));
            assertThrows(IllegalArgumentException.class,
                    () -> NucleusSampler.apply(x, 0, 20, 1f, 0.5f, 1f, probs, new int[20]));
        }
    }
}
