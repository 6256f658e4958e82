package dev.gale.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.buffer.DType;
import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@Tag("vector")
class DecodeAttentionTest {
    private static final double U16 = 0x1p-11;

    /** A batch: random F32 q, K, V; the cache in {@code dtype} (rounded from the same values). */
    record Case(AttentionSpec spec, int[] lengths, int capacity, MemorySegment q, MemorySegment k32, MemorySegment v32,
                DenseKv kv32, DenseKv kv) {
    }

    static Case make(Arena arena, int heads, int kvHeads, int d, int[] lengths, DType dtype, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        AttentionSpec spec = AttentionSpec.of(heads, kvHeads, d, false);
        int capacity = 1;
        for (int l : lengths) {
            capacity = Math.max(capacity, l);
        }
        int b = lengths.length;
        long n = (long) b * kvHeads * capacity * d;
        MemorySegment q = arena.allocate(4L * b * heads * d);
        for (long i = 0; i < (long) b * heads * d; i++) {
            q.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() * 4 - 2));
        }
        MemorySegment k32 = arena.allocate(4 * n);
        MemorySegment v32 = arena.allocate(4 * n);
        MemorySegment k = dtype == DType.F16 ? arena.allocate(2 * n) : k32;
        MemorySegment v = dtype == DType.F16 ? arena.allocate(2 * n) : v32;
        for (long i = 0; i < n; i++) {
            float kf = (float) (r.nextDouble() * 2 - 1);
            float vf = (float) (r.nextDouble() * 2 - 1);
            k32.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, kf);
            v32.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, vf);
            if (dtype == DType.F16) {
                k.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(kf));
                v.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(vf));
            }
        }
        DenseKv kv32 = DenseKv.headMajor(k32, v32, DType.F32, kvHeads, capacity, d, lengths);
        DenseKv kv = DenseKv.headMajor(k, v, dtype, kvHeads, capacity, d, lengths);
        return new Case(spec, lengths, capacity, q, k32, v32, kv32, kv);
    }

    static float[] run(Arena arena, Case c, WorkList list) {
        int n = c.lengths.length * c.spec.heads() * c.spec.headDim();
        MemorySegment out = arena.allocate(4L * n);
        new DecodeAttention().run(c.kv, list, c.spec.heads(), c.spec.scale(), c.q, 0, out, 0);
        return out.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
    }

    /**
     * Checks {@code got} against the double reference over {@code kv}: per element, F32 rounding of the weighted sum
     * plus twice the worst logit's dot-product rounding, both relative to the reference's error scale Σp|v|; with
     * {@code storage} > 0 (an F16 cache against F32 data) a further {@code storage·(1 + 2·max Σ|q·k|·τ)}.
     */
    static void check(String what, Case c, DenseKv kv, float[] got, double storage) {
        AttentionSpec spec = c.spec;
        int d = spec.headDim();
        int heads = spec.heads();
        for (int s = 0; s < c.lengths.length; s++) {
            MemorySegment want = Arena.ofAuto().allocate(4L * heads * d);
            double[] scale = new double[heads * d];
            HeadView qv = HeadView.tokenMajor(c.q, 4L * s * heads * d, heads, d);
            AttentionReference.attend(spec, qv, kv.keys(s), kv.values(s),
                    HeadView.tokenMajor(want, 0, heads, d), 1, c.lengths[s], null, 0, null, scale);
            for (int h = 0; h < heads; h++) {
                double sumAbs = 0;
                for (int j = 0; j < c.lengths[s]; j++) {
                    double a = 0;
                    for (int e = 0; e < d; e++) {
                        a += Math.abs(qv.get(0, h, e) * kv.keys(s).get(j, h / spec.group(), e));
                    }
                    sumAbs = Math.max(sumAbs, a * spec.scale());
                }
                double tol = Numerics.F32_REL + 2 * Numerics.dotBound(sumAbs, d) + storage * (1 + 2 * sumAbs);
                for (int e = 0; e < d; e++) {
                    double w = want.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, h * d + e);
                    double gv = got[(s * heads + h) * d + e];
                    double sc = scale[h * d + e];
                    if (c.lengths[s] == 0) {
                        assertEquals(0.0, gv, what + ": empty sequence " + s + " must give zeros");
                    } else if (!(Math.abs(gv - w) <= tol * sc + Float.MIN_NORMAL)) {
                        fail(what + ": seq " + s + " head " + h + " e " + e + ": got " + gv + ", want " + w
                                + " (scale " + sc + ", tol " + tol + ")");
                    }
                }
            }
        }
    }

    static WorkList[] lists(DenseKv kv, int workers) {
        DecodeShape shape = DecodeShape.of(kv);
        return new WorkList[] {OnePassSchedule.build(shape, workers), SplitKSchedule.build(shape, workers),
            LeanSchedule.build(shape, workers)};
    }

    @Test
    void lengthsAroundTheBlockAgreeWithTheReference() {
        int d = 16;
        int block = DecodeShape.blockTokens(d, 1);
        for (int len : new int[] {1, 2, block - 1, block, block + 1, 4097, 65536}) {
            try (Arena arena = Arena.ofShared()) {
                Case c = make(arena, 4, 2, d, new int[] {len}, DType.F32, len);
                WorkList[] all = lists(c.kv, 3);
                // The longest case once (lean, the schedule that cuts it most); the others under every schedule.
                for (WorkList list : len > 5000 ? new WorkList[] {all[2]} : all) {
                    check(list.schedule() + " length " + len, c, c.kv, run(arena, c, list), 0);
                }
            }
        }
    }

    @Test
    void everyGqaRatioOf32Heads() {
        for (int kvHeads : new int[] {1, 2, 4, 8, 16, 32}) {
            try (Arena arena = Arena.ofShared()) {
                Case c = make(arena, 32, kvHeads, 8, new int[] {300, 41}, DType.F32, kvHeads);
                for (WorkList list : lists(c.kv, 2)) {
                    check(list.schedule() + " Hkv " + kvHeads, c, c.kv, run(arena, c, list), 0);
                }
            }
        }
    }

    @Test
    void batchesOfDifferentLengthsIncludingEmpty() {
        try (Arena arena = Arena.ofShared()) {
            Case c = make(arena, 6, 3, 24, new int[] {0, 5, 300, 129, 0, 400}, DType.F32, 7);
            for (int workers : new int[] {1, 2, 5}) {
                for (WorkList list : lists(c.kv, workers)) {
                    check(list.schedule() + " workers " + workers, c, c.kv, run(arena, c, list), 0);
                }
            }
        }
    }

    @Test
    void schedulesAgreeInF32() {
        try (Arena arena = Arena.ofShared()) {
            Case c = make(arena, 8, 2, 64, new int[] {1000, 17, 600}, DType.F32, 11);
            WorkList[] lists = lists(c.kv, 3);
            float[] base = run(arena, c, lists[0]);
            for (int i = 1; i < lists.length; i++) {
                float[] o = run(arena, c, lists[i]);
                int d = c.spec.headDim();
                for (int j = 0; j < o.length; j++) {
                    // Relative to the output row's size: an element near 0 is a sum of cancelling terms.
                    double sc = 0;
                    for (int e = j / d * d; e < j / d * d + d; e++) {
                        sc = Math.max(sc, Math.abs(base[e]));
                    }
                    assertTrue(Math.abs(o[j] - base[j]) <= Numerics.F32_REL * sc,
                            lists[i].schedule() + " vs one-pass at " + j + ": " + o[j] + " vs " + base[j]);
                }
            }
        }
    }

    /**
     * F16 caches are widened into scratch and folded there, with register tiles chosen by group size and head dim
     * (four rows against two keys through the tree, a lone row against eight, the generic loop for keys past the last
     * tile and for head dims that are not whole vectors; P·V in four or two slices of d per pass, the last pass
     * repeating a slice when the count does not divide): every group size 1 … 5, odd lengths, and head dims 36, 40,
     * 64, 80, 96 and 128. Lengths 777 and 260 cross the 256-token spans and the 32-token chunks.
     */
    @ParameterizedTest
    @CsvSource({"8, 2, 40", "4, 4, 128", "6, 3, 128", "9, 3, 40", "10, 2, 128", "5, 1, 40", "6, 2, 36", "8, 2, 64",
        "8, 2, 80", "4, 1, 96"})
    void f16CacheWithinStorageError(int heads, int kvHeads, int d) {
        try (Arena arena = Arena.ofShared()) {
            Case c = make(arena, heads, kvHeads, d, new int[] {777, 3, 260, 13}, DType.F16, 13);
            for (WorkList list : lists(c.kv, 2)) {
                float[] got = run(arena, c, list);
                check(list.schedule() + " f16 vs its own values", c, c.kv, got, 0);
                check(list.schedule() + " f16 vs f32 data", c, c.kv32, got, U16);
            }
        }
    }

    @Test
    void leanRangesBalanceToOneBlockAndCoverEveryTile() {
        int[][] shapes = {{1, 3, 131072}, {1, 5, 8192}, {2, 8, 1000}, {3, 1, 5}, {1, 1, 100000}};
        for (int[] s : shapes) {
            DecodeShape shape = DecodeShape.uniform(s[0], s[1], s[2], 128);
            for (int workers : new int[] {1, 2, 7, 108}) {
                WorkList lean = LeanSchedule.build(shape, workers);
                long min = Long.MAX_VALUE;
                long max = 0;
                int busy = 0;
                for (int w = 0; w < workers; w++) {
                    long blocks = 0;
                    for (int g = lean.workerStart()[w]; g < lean.workerStart()[w + 1]; g++) {
                        blocks += (lean.segments()[g * 4 + 2] - lean.segments()[g * 4 + 1] + shape.block() - 1)
                                / shape.block();
                        int from = lean.segments()[g * 4 + 1];
                        assertEquals(0, from % shape.block(), "range starts on a block boundary");
                    }
                    if (blocks > 0) {
                        busy++;
                        min = Math.min(min, blocks);
                        max = Math.max(max, blocks);
                    }
                }
                assertTrue(max - min <= 1, "lean loads " + min + ".." + max + " blocks");
                assertEquals(Math.min(workers, shape.totalBlocks()), busy, "every worker has work");
                // build() already proved exact coverage; check the token total as well.
                long tokens = 0;
                for (int w = 0; w < workers; w++) {
                    tokens += lean.tokens(w);
                }
                assertEquals((long) s[0] * s[1] * s[2], tokens);
            }
        }
    }

    @Test
    void splitKFollowsTheFlashDecodingHeuristic() {
        assertEquals(1, SplitKSchedule.numSplits(108, 108, 1000, 128), "a full wave needs no split");
        assertEquals(1, SplitKSchedule.numSplits(87, 108, 1000, 128), "0.8 of the SMs is enough");
        int s = SplitKSchedule.numSplits(8, 108, 4096, 128);
        double w = 8.0 * s / 108;
        assertTrue(w / Math.ceil(w) >= 0.85 * 1.0 - 1e-9 || s > 1, "split count " + s);
        WorkList one = OnePassSchedule.build(DecodeShape.uniform(1, 5, 1000, 128), 2);
        assertEquals(5, one.slots());
        assertEquals(3, one.workerStart()[1], "tiles dealt round-robin: worker 0 gets three");
    }

    @Test
    void modelShowsWaveQuantizationAndPlannerPrefersLeanWhenUneven() {
        ScheduleModel m = ScheduleModel.DEFAULT;
        double[] t = m.gpu(1, 8, 512 * 1024, 128, 108);
        assertTrue(t[0] / t[2] > 10, "one-pass leaves 100 of 108 SMs idle: " + t[0] / t[2]);
        DecodePlanner p = DecodePlanner.standard();
        assertEquals(LeanSchedule.NAME, p.choose(DecodeShape.uniform(1, 3, 8192, 128), 2).schedule());
        assertEquals(OnePassSchedule.NAME, p.choose(DecodeShape.uniform(1, 8, 8192, 128), 2).schedule());
    }
}
