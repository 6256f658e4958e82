package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F32;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.buffer.DType;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("vector")
class SinkWindowKvTest {
    /** Streams a random sequence of tokens into a cache; keys of {@code spread} (large spreads make softmax peaky). */
    static void stream(SinkWindowKv kv, int seq, int tokens, SplittableRandom r, double spread) {
        int n = kv.kvHeads() * kv.headDim();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(4L * n);
            MemorySegment v = a.allocate(4L * n);
            for (int t = 0; t < tokens; t++) {
                for (int i = 0; i < n; i++) {
                    k.set(F32, 4L * i, (float) ((r.nextDouble() * 2 - 1) * spread));
                    v.set(F32, 4L * i, (float) (r.nextDouble() * 2 - 1));
                }
                kv.append(seq, k, 0, v, 0);
            }
        }
    }

    /**
     * Decodes every sequence with the Vector API path and compares each output element with the reference: the
     * reference's error scale {@code Σ p|v|} at F32 precision, plus the scores' own rounding (the rigorous dot bound over
     * {@code scale·‖q‖·max‖k‖}, the size of any score by Cauchy–Schwarz; rotation keeps norms) times {@code max|v|}.
     */
    static void check(String what, int sinks, int window, int[] lengths, int heads, int kvHeads, int d, DType dtype,
            RopeLayout layout, double spread, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        RopeTable rope = new RopeTable(sinks + window, d, 1e4, layout);
        int seqs = lengths.length;
        SinkWindowKv kv = SinkWindowKv.allocate(seqs, kvHeads, d, sinks, window, dtype, rope);
        for (int s = 0; s < seqs; s++) {
            stream(kv, s, lengths[s], r, spread);
        }
        AttentionSpec spec = AttentionSpec.of(heads, kvHeads, d, false);
        try (Arena a = Arena.ofConfined()) {
            long rowBytes = 4L * heads * d;
            MemorySegment q = a.allocate(rowBytes * seqs);
            for (long i = 0; i < (long) heads * d * seqs; i++) {
                q.set(F32, 4 * i, (float) (r.nextDouble() * 2 - 1));
            }
            MemorySegment got = a.allocate(rowBytes * seqs);
            MemorySegment want = a.allocate(rowBytes * seqs);
            kv.decode(spec, q, 0, got, 0);
            HeadView kc = kv.keyView();
            HeadView vc = kv.valueView();
            for (int s = 0; s < seqs; s++) {
                double[] scale = new double[heads * d];
                kv.reference(s, spec, q, s * rowBytes, want, s * rowBytes, scale);
                int n = kv.length(s);
                double[] kMax = new double[kvHeads];
                double[] vMax = new double[kvHeads];
                for (int kh = 0; kh < kvHeads; kh++) {
                    for (int j = 0; j < n; j++) {
                        double kn = 0;
                        for (int e = 0; e < d; e++) {
                            double x = kc.get(j, s * kvHeads + kh, e);
                            kn += x * x;
                            vMax[kh] = Math.max(vMax[kh], Math.abs(vc.get(j, s * kvHeads + kh, e)));
                        }
                        kMax[kh] = Math.max(kMax[kh], Math.sqrt(kn));
                    }
                }
                for (int h = 0; h < heads; h++) {
                    int kh = h / spec.group();
                    double qn = 0;
                    for (int e = 0; e < d; e++) {
                        double x = q.get(F32, s * rowBytes + 4L * (h * d + e));
                        qn += x * x;
                    }
                    double scores = spec.scale() * Math.sqrt(qn) * kMax[kh];
                    // the rigorous part of Numerics.dotBound (no 1e-5 floor: scores of 80 would make it loose)
                    double scoreErr = 2 * (d / 16.0 + 16) * Numerics.U_F32 * scores * vMax[kh];
                    for (int e = 0; e < d; e++) {
                        long at = s * rowBytes + 4L * (h * d + e);
                        float g = got.get(F32, at);
                        double w = want.get(F32, at);
                        String where = what + " S=" + sinks + " W=" + window + " len " + lengths[s] + " " + dtype
                                + " " + layout + " Hq/Hkv " + heads + "/" + kvHeads + " d " + d + " seq " + s
                                + " head " + h + " e " + e;
                        assertTrue(Float.isFinite(g), where + ": " + g);
                        double tol = Numerics.F32_REL * scale[h * d + e] + scoreErr + Float.MIN_NORMAL;
                        if (Math.abs(g - w) > tol) {
                            fail(where + ": got " + g + ", want " + w + ", tolerance " + tol);
                        }
                    }
                }
            }
        }
    }

    @Test
    void streamsOfEveryLengthAgainstTheReference() {
        long seed = 1;
        for (int sinks : new int[] {0, 1, 4}) {
            int window = 13;
            // shorter than S (or one token), exactly S + W, one past it, and wrapping the ring several times
            int[] lengths = {Math.max(1, sinks - 1), sinks + window, sinks + window + 1, sinks + 5 * window + 11,
                1, sinks + window / 2};
            for (DType dtype : new DType[] {DType.F32, DType.F16}) {
                for (RopeLayout layout : RopeLayout.values()) {
                    check("mha", sinks, window, lengths, 2, 2, 32, dtype, layout, 1, seed++);
                    check("gqa", sinks, window, lengths, 8, 2, 32, dtype, layout, 1, seed++);
                }
            }
        }
    }

    @Test
    void groupRatiosAndHeadDimsWithTails() {
        long seed = 100;
        for (int[] shape : new int[][] {{6, 2, 8}, {5, 1, 6}, {3, 3, 34}, {8, 1, 128}}) {
            for (RopeLayout layout : RopeLayout.values()) {
                check("shape", 4, 70, new int[] {230, 3}, shape[0], shape[1], shape[2], DType.F16, layout, 1,
                        seed++);
            }
        }
    }

    /** Blocks longer than one score block, and keys of spread 30: sharply peaked weights, never NaN. */
    @Test
    void longWindowsAndPeakedScores() {
        check("long", 4, 400, new int[] {404 + 333}, 2, 1, 64, DType.F16, RopeLayout.HALF_SPLIT, 30, 7);
        check("peaked", 4, 100, new int[] {333}, 2, 1, 32, DType.F32, RopeLayout.ADJACENT_PAIRS, 60, 8);
    }

    /** Split ranges (crossing the sink boundary and the ring's wrap) merged with SoftmaxState equal one pass. */
    @Test
    void splitRangesMergeToTheWholeRange() {
        int sinks = 4;
        int window = 29;
        int d = 16;
        int g = 3;
        RopeTable rope = new RopeTable(sinks + window, d, 5e5, RopeLayout.ADJACENT_PAIRS);
        SinkWindowKv kv = SinkWindowKv.allocate(1, 1, d, sinks, window, DType.F32, rope);
        SplittableRandom r = new SplittableRandom(9);
        stream(kv, 0, sinks + 3 * window + 5, r, 1);
        int n = kv.length(0);
        float[] q = new float[g * d];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (r.nextDouble() - 0.5);
        }
        int stride = SoftmaxState.stride(d);
        float[] whole = new float[g * stride];
        float[] scratch = new float[kv.scratchFloats(n, g)];
        SoftmaxState.reset(whole, 0, g, d);
        kv.accumulate(0, 0, 0, n, q, 0, g, whole, 0, scratch);
        int[] cuts = {0, 2, 5, 6, 19, n - 1, n};
        float[] merged = new float[g * stride];
        float[] part = new float[g * stride];
        SoftmaxState.reset(merged, 0, g, d);
        for (int c = 0; c + 1 < cuts.length; c++) {
            SoftmaxState.reset(part, 0, g, d);
            kv.accumulate(0, 0, cuts[c], cuts[c + 1], q, 0, g, part, 0, scratch);
            for (int row = 0; row < g; row++) {
                SoftmaxState.merge(merged, row * stride, part, row * stride, d);
            }
        }
        for (int row = 0; row < g; row++) {
            float lw = whole[row * stride + SoftmaxState.L];
            for (int e = 0; e < d; e++) {
                double a = whole[row * stride + SoftmaxState.O + e] / lw;
                double b = merged[row * stride + SoftmaxState.O + e] / merged[row * stride + SoftmaxState.L];
                assertEquals(a, b, 1e-5, "row " + row + " e " + e);
            }
        }
    }

    @Test
    void rejectsMismatchedTablesAndRanges() {
        RopeTable small = new RopeTable(10, 8, 1e4, RopeLayout.HALF_SPLIT);
        assertThrows(IllegalArgumentException.class,
                () -> SinkWindowKv.allocate(1, 1, 8, 4, 7, DType.F32, small));
        SinkWindowKv kv = SinkWindowKv.allocate(1, 1, 8, 4, 6, DType.F32, small);
        float[] st = new float[10];
        assertThrows(IllegalArgumentException.class,
                () -> kv.accumulate(0, 0, 0, 1, new float[8], 0, 1, st, 0, new float[kv.scratchFloats(1, 1)]));
    }
}
