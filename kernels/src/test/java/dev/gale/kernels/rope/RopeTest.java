package dev.gale.kernels.rope;

import static dev.gale.kernels.activation.ElemTestSupport.PAD;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.Buffer;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.activation.ElemTestSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("vector")
class RopeTest {
    private static final int MAX_POS = 4096;

    /** The rotation computed from scratch in double: angle = p·θ^(−2i/d), no table. */
    private static double[] rotateInDouble(float[] x, int tokens, int heads, int d, int[] pos, double theta,
            RopeLayout layout) {
        double[] y = new double[x.length];
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int base = (t * heads + h) * d;
                for (int i = 0; i < d / 2; i++) {
                    double angle = pos[t] * Math.pow(theta, -2.0 * i / d);
                    int ia = layout == RopeLayout.HALF_SPLIT ? base + i : base + 2 * i;
                    int ib = layout == RopeLayout.HALF_SPLIT ? base + i + d / 2 : base + 2 * i + 1;
                    y[ia] = x[ia] * Math.cos(angle) - x[ib] * Math.sin(angle);
                    y[ib] = x[ia] * Math.sin(angle) + x[ib] * Math.cos(angle);
                }
            }
        }
        return y;
    }

    /** Pair partner of element j of a head: the rounding of cos/sin to F32 errs by u·(|a| + |b|) at most. */
    private static int partner(RopeLayout layout, int j, int d) {
        if (layout == RopeLayout.HALF_SPLIT) {
            return j < d / 2 ? j + d / 2 : j - d / 2;
        }
        return j ^ 1;
    }

    @Test
    void matchesDoublePrecisionRotation() {
        Random rnd = new Random(21);
        for (RopeLayout layout : RopeLayout.values()) {
            for (double theta : new double[] {1e4, 5e5}) {
                for (int d : new int[] {2, 6, 34, 64, 128}) {
                    RopeTable table = new RopeTable(MAX_POS, d, theta, layout);
                    int tokens = 5;
                    int heads = 3;
                    int[] pos = new int[tokens];
                    for (int t = 0; t < tokens; t++) {
                        pos[t] = t == 0 ? MAX_POS - 1 : rnd.nextInt(MAX_POS);
                    }
                    float[] x = ElemTestSupport.gaussian(rnd, tokens * heads * d, 2);
                    double[] want = rotateInDouble(x, tokens, heads, d, pos, theta, layout);
                    try (Arena arena = Arena.ofShared()) {
                        MemorySegment v = ElemTestSupport.segment(arena, x);
                        MemorySegment r = ElemTestSupport.segment(arena, x);
                        Rope.apply(table, v, PAD, tokens, heads, pos);
                        Rope.reference(table, r, PAD, tokens, heads, pos);
                        float[] got = ElemTestSupport.read(v, x.length);
                        float[] ref = ElemTestSupport.read(r, x.length);
                        for (int j = 0; j < x.length; j++) {
                            int head = j / d * d;
                            double scale = Math.abs(x[j]) + Math.abs(x[head + partner(layout, j % d, d)]);
                            // cos/sin rounded to F32 (u each), the products and the sum (2u): 4u·(|a| + |b|).
                            double bound = 4 * Numerics.U_F32 * scale + Float.MIN_NORMAL;
                            String what = layout + " θ=" + theta + " d=" + d + " element " + j;
                            assertTrue(Math.abs(got[j] - want[j]) <= bound, what + ": vector " + got[j] + " vs "
                                    + want[j]);
                            assertTrue(Math.abs(ref[j] - want[j]) <= bound, what + ": reference " + ref[j]);
                        }
                    }
                }
            }
        }
    }

    @Test
    void layoutsAgreeUpToThePermutation() {
        Random rnd = new Random(22);
        for (int d : new int[] {2, 10, 64, 128}) {
            RopeTable adjacent = new RopeTable(MAX_POS, d, 5e5, RopeLayout.ADJACENT_PAIRS);
            RopeTable half = new RopeTable(MAX_POS, d, 5e5, RopeLayout.HALF_SPLIT);
            int tokens = 7;
            int heads = 4;
            int[] pos = new int[tokens];
            for (int t = 0; t < tokens; t++) {
                pos[t] = rnd.nextInt(MAX_POS);
            }
            float[] x = ElemTestSupport.gaussian(rnd, tokens * heads * d, 1);
            // Adjacent (x0, x1), (x2, x3)… become half-split (x_i, x_{i+d/2}) under this permutation.
            float[] xp = new float[x.length];
            for (int h = 0; h < tokens * heads; h++) {
                for (int i = 0; i < d / 2; i++) {
                    xp[h * d + i] = x[h * d + 2 * i];
                    xp[h * d + i + d / 2] = x[h * d + 2 * i + 1];
                }
            }
            try (Arena arena = Arena.ofShared()) {
                MemorySegment a = ElemTestSupport.segment(arena, x);
                MemorySegment b = ElemTestSupport.segment(arena, xp);
                Rope.apply(adjacent, a, PAD, tokens, heads, pos);
                Rope.apply(half, b, PAD, tokens, heads, pos);
                float[] ya = ElemTestSupport.read(a, x.length);
                float[] yb = ElemTestSupport.read(b, x.length);
                for (int h = 0; h < tokens * heads; h++) {
                    for (int i = 0; i < d / 2; i++) {
                        assertEquals(ya[h * d + 2 * i], yb[h * d + i], "d=" + d + " pair " + i);
                        assertEquals(ya[h * d + 2 * i + 1], yb[h * d + i + d / 2], "d=" + d + " pair " + i);
                    }
                }
            }
        }
    }

    @Test
    void queriesAndKeysWithGroupedHeads() {
        Random rnd = new Random(23);
        for (RopeLayout layout : RopeLayout.values()) {
            int d = 64;
            int nHeads = 32;
            int nKv = 8;
            int tokens = 13;
            RopeTable table = new RopeTable(2048, d, 5e5, layout);
            int[] pos = new int[tokens];
            for (int t = 0; t < tokens; t++) {
                pos[t] = 100 + t;
            }
            float[] q = ElemTestSupport.gaussian(rnd, tokens * nHeads * d, 1);
            float[] k = ElemTestSupport.gaussian(rnd, tokens * nKv * d, 1);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment q1 = ElemTestSupport.segment(arena, q);
                MemorySegment k1 = ElemTestSupport.segment(arena, k);
                MemorySegment q2 = ElemTestSupport.segment(arena, q);
                MemorySegment k2 = ElemTestSupport.segment(arena, k);
                MemorySegment q3 = ElemTestSupport.segment(arena, q);
                MemorySegment k3 = ElemTestSupport.segment(arena, k);
                Rope.applyQK(table, q1, PAD, k1, PAD, tokens, nHeads, nKv, pos);
                Rope.applyQKParallel(table, q2, PAD, k2, PAD, tokens, nHeads, nKv, pos);
                Rope.apply(table, q3, PAD, tokens, nHeads, pos);
                Rope.apply(table, k3, PAD, tokens, nKv, pos);
                float[] wantQ = ElemTestSupport.read(q3, q.length);
                float[] wantK = ElemTestSupport.read(k3, k.length);
                assertArrayEquals(wantQ, ElemTestSupport.read(q1, q.length));
                assertArrayEquals(wantK, ElemTestSupport.read(k1, k.length));
                assertArrayEquals(wantQ, ElemTestSupport.read(q2, q.length), "parallel q");
                assertArrayEquals(wantK, ElemTestSupport.read(k2, k.length), "parallel k");
            }
        }
    }

    @Test
    void positionZeroIsIdentity() {
        RopeTable table = new RopeTable(4, 128, 1e4, RopeLayout.ADJACENT_PAIRS);
        float[] x = ElemTestSupport.gaussian(new Random(24), 128, 1);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment s = ElemTestSupport.segment(arena, x);
            Rope.apply(table, s, PAD, 1, 1, new int[] {0});
            assertArrayEquals(x, ElemTestSupport.read(s, x.length));
        }
    }

    @Test
    void rejectsBadInput() {
        var e = assertThrows(ShapeMismatchException.class, () -> new RopeTable(16, 63, 1e4, RopeLayout.HALF_SPLIT));
        assertTrue(e.getMessage().contains("63"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new RopeTable(16, 64, 0.5, RopeLayout.HALF_SPLIT));
        RopeTable table = new RopeTable(16, 64, 1e4, RopeLayout.HALF_SPLIT);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = arena.allocate(4L * 64 * 4);
            MemorySegment k = arena.allocate(4L * 64);
            e = assertThrows(ShapeMismatchException.class,
                    () -> Rope.applyQK(table, q, 0, k, 0, 1, 4, 2, new int[] {3}));
            assertTrue(e.getMessage().contains("'k'"), e.getMessage());
            e = assertThrows(ShapeMismatchException.class, () -> Rope.apply(table, q, 0, 1, 4, new int[] {16}));
            assertTrue(e.getMessage().contains("16"), e.getMessage());
            assertThrows(ShapeMismatchException.class, () -> Rope.apply(table, q, 0, 2, 2, new int[] {1}));
        }
    }

    /** The op's device table is read-only, so a device with its own memory copies it once rather than per launch. */
    @Test
    void theDeviceTableIsReadOnlyAndHoldsTheTablesAngles() {
        RopeTable table = new RopeTable(5, 8, 10000f, RopeLayout.ADJACENT_PAIRS);
        Buffer[] cs = new RopeOp(table).deviceTable();
        for (Buffer b : cs) {
            assertTrue(b.segment().isReadOnly(), b.name() + " must be read-only");
        }
        assertEquals(table.cos(4, 3), cs[0].getFloat(4 * 4 + 3));
        assertEquals(table.sin(4, 3), cs[1].getFloat(4 * 4 + 3));
    }
}
