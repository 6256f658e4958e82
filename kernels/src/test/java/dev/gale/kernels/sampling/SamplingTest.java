package dev.gale.kernels.sampling;

import static dev.gale.kernels.activation.ElemTestSupport.AWKWARD;
import static dev.gale.kernels.activation.ElemTestSupport.PAD;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import dev.gale.kernels.activation.ElemTestSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("vector")
class SamplingTest {
    private static final int VOCAB = 128256;

    /** Values on a coarse grid, so that ties are common. */
    private static float[] tied(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = rnd.nextInt(40) * 0.25f - 5f;
        }
        return x;
    }

    private static int argmax(float[] x, boolean vector) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment s = ElemTestSupport.segment(arena, x);
            return vector ? Argmax.apply(s, PAD, x.length) : Argmax.reference(s, PAD, x.length);
        }
    }

    @Test
    void argmaxFirstIndexOfTheMaximum() {
        Random rnd = new Random(31);
        for (int n : new int[] {1, 7, 31, 33, 4095, 4097, VOCAB}) {
            float[] x = tied(rnd, n);
            int want = argmax(x, false);
            assertEquals(want, argmax(x, true), "n=" + n);
            for (int i = 0; i < want; i++) {
                assertTrue(x[i] < x[want]);
            }
            float[] g = ElemTestSupport.gaussian(rnd, n, 3);
            assertEquals(argmax(g, false), argmax(g, true), "gaussian n=" + n);
        }
    }

    @Test
    void argmaxSpecialValues() {
        float[] x = new float[4097];
        Arrays.fill(x, Float.NEGATIVE_INFINITY);
        assertEquals(0, argmax(x, false));
        assertEquals(0, argmax(x, true));
        x[4000] = -1e30f;
        assertEquals(4000, argmax(x, true));
        x[4096] = Float.POSITIVE_INFINITY;
        assertEquals(4096, argmax(x, true));
        x[17] = Float.NaN;
        x[3000] = Float.NaN;
        assertEquals(17, argmax(x, false), "first NaN wins");
        assertEquals(17, argmax(x, true), "first NaN wins");
        float[] z = {-0f, 0f, -0f, 0f};
        assertEquals(0, argmax(z, false), "-0 == +0: first index");
        assertEquals(0, argmax(z, true));
        float[] d = new float[40];
        d[39] = Float.MIN_VALUE;
        assertEquals(39, argmax(d, true), "a denormal is above zero");
    }

    private static void checkTopK(float[] x, int k) {
        int[] wi = new int[k];
        float[] wv = new float[k];
        int[] gi = new int[k + 3];
        float[] gv = new float[k + 3];
        try (Arena arena = Arena.ofShared()) {
            MemorySegment s = ElemTestSupport.segment(arena, x);
            TopK.reference(s, PAD, x.length, k, wi, wv);
            TopK.apply(s, PAD, x.length, k, gi, gv);
        }
        String what = "topk n=" + x.length + " k=" + k;
        assertArrayEquals(wi, Arrays.copyOf(gi, k), what + " indices");
        for (int i = 0; i < k; i++) {
            assertEquals(Float.floatToIntBits(wv[i]), Float.floatToIntBits(gv[i]), what + " value " + i);
            assertEquals(Float.floatToIntBits(x[wi[i]]), Float.floatToIntBits(wv[i]));
            if (i > 0) {
                assertTrue(TopK.worse(wv[i], wi[i], wv[i - 1], wi[i - 1]), what + ": ordered best first");
            }
        }
    }

    @Test
    void topKMatchesReference() {
        Random rnd = new Random(32);
        for (int n : AWKWARD) {
            for (int k : new int[] {1, 2, 5, 40, 64}) {
                if (k <= n) {
                    checkTopK(tied(rnd, n), k);
                    checkTopK(ElemTestSupport.gaussian(rnd, n, 1), k);
                }
            }
            if (n <= 4097) {
                checkTopK(tied(rnd, n), n); // k = n: a full sort, ties by index
            }
        }
        checkTopK(ElemTestSupport.gaussian(rnd, VOCAB, 4), 64);
        checkTopK(tied(rnd, VOCAB), 50);
        // Increasing data: every element enters the heap (the slow path of the filter).
        float[] inc = new float[20_000];
        for (int i = 0; i < inc.length; i++) {
            inc[i] = i * 0.5f;
        }
        checkTopK(inc, 64);
    }

    @Test
    void topKFullVocab() {
        float[] x = ElemTestSupport.gaussian(new Random(33), VOCAB, 2);
        int[] idx = new int[VOCAB];
        float[] val = new float[VOCAB];
        try (Arena arena = Arena.ofShared()) {
            TopK.apply(ElemTestSupport.segment(arena, x), PAD, VOCAB, VOCAB, idx, val);
        }
        Integer[] order = new Integer[VOCAB];
        for (int i = 0; i < VOCAB; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> x[a] != x[b] ? Float.compare(x[b], x[a]) : Integer.compare(a, b));
        for (int i = 0; i < VOCAB; i++) {
            assertEquals(order[i], idx[i], "rank " + i);
        }
    }

    @Test
    void topKSpecialValuesAndArgmaxAgreement() {
        float[] x = {1f, Float.NaN, -0f, 0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 2f,
            Float.MIN_VALUE, -Float.MIN_VALUE};
        checkTopK(x, x.length);
        checkTopK(x, 3);
        int[] idx = new int[x.length];
        float[] val = new float[x.length];
        try (Arena arena = Arena.ofShared()) {
            TopK.apply(ElemTestSupport.segment(arena, x), PAD, x.length, x.length, idx, val);
        }
        assertArrayEquals(new int[] {1, 6, 4, 7, 0, 8, 2, 3, 9, 5}, idx, "NaN first, then by value, ties by index");
        Random rnd = new Random(34);
        for (int t = 0; t < 20; t++) {
            float[] y = tied(rnd, 1000);
            int[] one = new int[1];
            try (Arena arena = Arena.ofShared()) {
                TopK.apply(ElemTestSupport.segment(arena, y), PAD, y.length, 1, one, new float[1]);
            }
            assertEquals(argmax(y, true), one[0], "top-1 is the argmax");
        }
    }

    @Test
    void rejectsBadInput() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment s = arena.allocate(4L * 10);
            var e = assertThrows(ShapeMismatchException.class,
                    () -> TopK.apply(s, 0, 10, 11, new int[11], new float[11]));
            assertTrue(e.getMessage().contains("k = 11") && e.getMessage().contains("10"), e.getMessage());
            assertThrows(ShapeMismatchException.class, () -> TopK.apply(s, 0, 10, 0, new int[1], new float[1]));
            e = assertThrows(ShapeMismatchException.class, () -> TopK.apply(s, 0, 10, 4, new int[3], new float[4]));
            assertTrue(e.getMessage().contains("'idx'"), e.getMessage());
            assertThrows(ShapeMismatchException.class, () -> TopK.apply(s, 0, 11, 4, new int[4], new float[4]));
            assertThrows(ShapeMismatchException.class, () -> Argmax.apply(s, 0, 0));
            assertThrows(ShapeMismatchException.class, () -> Argmax.apply(s, 4, 10));
        }
    }
}
