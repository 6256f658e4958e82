package dev.gale.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The family's shared pieces: the merge operator, the reference on cases with known answers, work lists. */
class AttentionBaseTest {
    private static final int D = 5;

    /** A state built directly from scores and values, in float, the way a kernel would fold one block. */
    private static float[] fold(double[] s, double[][] v) {
        float[] st = new float[D + 2];
        SoftmaxState.reset(st, 0, 1, D);
        double m = Double.NEGATIVE_INFINITY;
        for (double x : s) {
            m = Math.max(m, x);
        }
        if (m == Double.NEGATIVE_INFINITY) {
            return st;
        }
        st[SoftmaxState.M] = (float) m;
        for (int j = 0; j < s.length; j++) {
            double p = Math.exp(s[j] - m);
            st[SoftmaxState.L] += (float) p;
            for (int e = 0; e < D; e++) {
                st[SoftmaxState.O + e] += (float) (p * v[j][e]);
            }
        }
        return st;
    }

    @Test
    void mergeOfSplitsEqualsTheWholeInAnyOrder() {
        SplittableRandom r = new SplittableRandom(3);
        int n = 40;
        double[] s = new double[n];
        double[][] v = new double[n][D];
        for (int j = 0; j < n; j++) {
            s[j] = r.nextDouble(-30, 30);
            for (int e = 0; e < D; e++) {
                v[j][e] = r.nextDouble(-2, 2);
            }
        }
        float[] whole = fold(s, v);
        int[] cuts = {0, 7, 8, 23, 40};
        float[][] parts = new float[4][];
        for (int p = 0; p < 4; p++) {
            parts[p] = fold(Arrays.copyOfRange(s, cuts[p], cuts[p + 1]),
                    Arrays.copyOfRange(v, cuts[p], cuts[p + 1]));
        }
        for (int[] order : new int[][] {{0, 1, 2, 3}, {3, 1, 0, 2}, {2, 3, 1, 0}}) {
            float[] acc = new float[D + 2];
            SoftmaxState.reset(acc, 0, 1, D);
            for (int p : order) {
                SoftmaxState.merge(acc, 0, parts[p], 0, D);
            }
            for (int e = 0; e < D; e++) {
                double want = whole[SoftmaxState.O + e] / whole[SoftmaxState.L];
                double got = acc[SoftmaxState.O + e] / acc[SoftmaxState.L];
                assertEquals(want, got, 1e-5 * 2, "element " + e);
            }
            assertEquals(SoftmaxState.lse(whole, 0), SoftmaxState.lse(acc, 0), 1e-5);
        }
    }

    @Test
    void fullyMaskedStatesMergeToZerosNotNaN() {
        float[] empty = fold(new double[] {Double.NEGATIVE_INFINITY, Double.NEGATIVE_INFINITY},
                new double[2][D]);
        float[] acc = new float[D + 2];
        SoftmaxState.reset(acc, 0, 1, D);
        SoftmaxState.merge(acc, 0, empty, 0, D);
        SoftmaxState.merge(acc, 0, empty.clone(), 0, D);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(4L * D);
            out.fill((byte) 0x7f);
            SoftmaxState.normalise(acc, 0, D, out, 0);
            for (int e = 0; e < D; e++) {
                assertEquals(0f, out.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, e));
            }
        }
        assertEquals(Float.NEGATIVE_INFINITY, SoftmaxState.lse(acc, 0));
        // A masked part merged into a live one changes nothing.
        float[] live = fold(new double[] {1.5}, new double[][] {{1, 2, 3, 4, 5}});
        float[] before = live.clone();
        SoftmaxState.merge(live, 0, empty, 0, D);
        assertArrayEquals(before, live);
    }

    @Test
    void referenceMatchesCasesWithKnownAnswers() {
        try (Arena a = Arena.ofConfined()) {
            // Two heads, one KV head (MQA); two keys with equal scores average their values; causal row 0 sees key 0.
            int d = 2;
            MemorySegment q = seg(a, 1, 0, 0, 1);
            MemorySegment k = seg(a, 3, 4, 3, 4);
            MemorySegment v = seg(a, 10, 20, 30, 40);
            MemorySegment out = a.allocate(4L * 2 * 2 * d);
            AttentionSpec spec = AttentionSpec.of(2, 1, d, false);
            AttentionReference.attend(spec, HeadView.tokenMajor(q, 0, 2, d), HeadView.tokenMajor(k, 0, 1, d),
                    HeadView.tokenMajor(v, 0, 1, d), HeadView.tokenMajor(out, 0, 2, d), 1, 2, null, 0, null, null);
            assertEquals(20f, out.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 0), 1e-5);
            assertEquals(30f, out.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 1), 1e-5);
            // Causal, two queries over two keys: row 0 sees only key 0, so it is v0 exactly.
            MemorySegment q2 = seg(a, 1, 0, 0, 1, 1, 0, 0, 1);
            MemorySegment out2 = a.allocate(4L * 2 * 2 * d);
            AttentionReference.attend(AttentionSpec.of(2, 1, d, true), HeadView.tokenMajor(q2, 0, 2, d),
                    HeadView.tokenMajor(k, 0, 1, d), HeadView.tokenMajor(v, 0, 1, d),
                    HeadView.tokenMajor(out2, 0, 2, d), 2, 2, null, 0, null, null);
            assertEquals(10f, out2.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
            assertEquals(20f, out2.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 1));
            // All keys padded: zeros and an LSE of −∞, never NaN.
            MemorySegment mask = a.allocate(2);
            double[] lse = new double[2];
            AttentionReference.attend(spec, HeadView.tokenMajor(q, 0, 2, d), HeadView.tokenMajor(k, 0, 1, d),
                    HeadView.tokenMajor(v, 0, 1, d), HeadView.tokenMajor(out, 0, 2, d), 1, 2, mask, 0, lse, null);
            for (int i = 0; i < 4; i++) {
                assertEquals(0f, out.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i));
            }
            assertEquals(Double.NEGATIVE_INFINITY, lse[0]);
        }
    }

    @Test
    void windowAndCausalBoundsAreBottomRightAligned() {
        AttentionSpec causal = AttentionSpec.of(4, 2, 8, true);
        assertEquals(5, causal.lastKey(0, 3, 8));
        assertEquals(7, causal.lastKey(2, 3, 8));
        AttentionSpec w = causal.withWindow(4);
        assertEquals(2, w.firstKey(0, 3, 8));
        assertEquals(0, w.firstKey(0, 1, 2));
        assertThrows(IllegalArgumentException.class, () -> new AttentionSpec(6, 4, 8, false, 0, 1f));
        assertThrows(IllegalArgumentException.class, () -> new AttentionSpec(4, 2, 8, false, 3, 1f));
    }

    @Test
    void workListRejectsGapsAndOverlapsAndOrdersSlotsByToken() {
        int[] lens = {10, 0, 5};
        WorkList ok = WorkList.builder("test", 2, lens).add(1, 0, 4, 10).add(0, 0, 0, 4).add(0, 2, 0, 5).build();
        assertEquals(3, ok.slots());
        assertArrayEquals(new int[] {0, 2, 2, 3}, ok.tileSlots());
        // Worker 0 holds tile 0 [0,4) in slot 0 and tile 2 in slot 2; worker 1 holds tile 0 [4,10) in slot 1.
        assertArrayEquals(new int[] {0, 0, 4, 0, 2, 0, 5, 2, 0, 4, 10, 1}, ok.segments());
        assertEquals(9, ok.tokens(0));
        assertThrows(IllegalStateException.class,
                () -> WorkList.builder("gap", 1, lens).add(0, 0, 0, 4).add(0, 0, 5, 10).add(0, 2, 0, 5).build());
        assertThrows(IllegalStateException.class,
                () -> WorkList.builder("overlap", 1, lens).add(0, 0, 0, 6).add(0, 0, 5, 10).add(0, 2, 0, 5).build());
        assertThrows(IllegalStateException.class, () -> WorkList.builder("short", 1, lens).add(0, 0, 0, 10).build());
        assertThrows(IllegalArgumentException.class, () -> WorkList.builder("bad", 1, lens).add(0, 1, 0, 1));
    }

    private static MemorySegment seg(Arena a, float... xs) {
        MemorySegment s = a.allocate(4L * xs.length);
        for (int i = 0; i < xs.length; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, xs[i]);
        }
        return s;
    }
}
