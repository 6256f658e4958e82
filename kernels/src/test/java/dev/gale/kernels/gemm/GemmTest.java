package dev.gale.kernels.gemm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Register-tiled GEMM (F32 and F16 weights) against the scalar reference and a double-precision truth. */
@Tag("vector")
class GemmTest {
    private static final int NR = GemmKernel.NR;
    private static final int KC = GemmKernel.KC;

    /** Tokens, outputs and inputs around the tile sizes: partial token tiles, partial panels, several K blocks. */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void matchesTruthOnAwkwardShapes(Kind kind) {
        SplittableRandom rnd = new SplittableRandom(5);
        int[] tokensList = {2, 3, 4, 7, 9};
        int[] outs = {1, 5, NR - 1, NR + 3, 3 * NR + 7};
        int[] ins = {1, 7, 33, KC + 5, 2 * KC + 31};
        int n = 0;
        for (int tokens : tokensList) {
            for (int out : outs) {
                for (int in : ins) {
                    // Every tokens and out value with every in value, without the full cube.
                    if ((n++ % 3) != 0 && in > 100 && out > NR) {
                        continue;
                    }
                    run(kind, rnd, tokens, out, in);
                }
            }
        }
    }

    /** A larger case that the pool splits over output panels (outputs not a multiple of the panel or 2 threads). */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void parallelSplitMatchesSingleThread(Kind kind) {
        run(kind, new SplittableRandom(9), 37, 5 * NR + 13, 4097);
    }

    /**
     * More tokens than outputs, so the pool splits over token groups (BERT-like), with activation blocks of
     * {@code MC} tokens ending mid-range; and more outputs than one packed weight block of {@code NC}, with a partial
     * last panel. Both must match the single-thread result bit for bit.
     */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void tokenSplitAndBlockEdgesMatchSingleThread(Kind kind) {
        SplittableRandom rnd = new SplittableRandom(17);
        run(kind, rnd, 2 * GemmKernel.MC + 4 * GemmKernel.MR + 3, NR + 3, KC + 9);
        run(kind, rnd, GemmKernel.MC + 5, GemmKernel.NC + NR + 5, KC + 9);
    }

    /**
     * More tokens than one chunk of packed activations ({@code GemmKernel.XC} floats over all inputs): a long input
     * row makes the chunk a few tile groups, so the tokens span two chunks and a partial third, with a leftover token.
     */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void tokenChunksMatchTheTruth(Kind kind) {
        int in = 131_075;
        int chunk = Math.max(GemmKernel.MR, GemmKernel.XC / in / GemmKernel.MR * GemmKernel.MR);
        run(kind, new SplittableRandom(23), 2 * chunk + GemmKernel.MR + 1, NR + 3, in);
    }

    /** tokens == 1 goes to the GEMV path (within the bound of the truth: see {@link GemvTest} on bitwise checks). */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void oneTokenIsTheGemv(Kind kind) {
        SplittableRandom rnd = new SplittableRandom(1);
        int out = 45;
        int in = 4095;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = weights(arena, kind, (long) out * in, rnd);
            MemorySegment x = Data.randomF32(arena, in, rnd);
            MemorySegment ym = Data.alloc(arena, out, 4);
            MemorySegment yv = Data.alloc(arena, out, 4);
            kind.gemm(w, x, ym, 1, out, in);
            kind.gemvRows(w, x, yv, out, in, 0, out);
            Data.checkAgainstTruth("gemm " + kind + " with one token", w, kind.half, x, ym, 1, out, in);
            Data.checkAgainstTruth("gemv " + kind, w, kind.half, x, yv, 1, out, in);
        }
    }

    /** NaN and ±Inf in weights and activations, and subnormals, propagate like the reference. */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void specialValuesPropagateLikeTheReference(Kind kind) {
        SplittableRandom rnd = new SplittableRandom(13);
        int tokens = 6;
        int out = NR + 2;
        int in = KC + 9;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = weights(arena, kind, (long) out * in, rnd);
            MemorySegment x = Data.randomF32(arena, (long) tokens * in, rnd);
            GemvTest.setWeight(w, kind, 0 * in + 2, Float.POSITIVE_INFINITY);
            GemvTest.setWeight(w, kind, 1 * in + in - 1, Float.NEGATIVE_INFINITY);
            GemvTest.setWeight(w, kind, 2 * in + KC, Float.NaN);
            GemvTest.setWeight(w, kind, (long) (out - 1) * in + 5, Float.POSITIVE_INFINITY);
            GemvTest.setWeight(w, kind, (long) (out - 1) * in + 6, Float.NEGATIVE_INFINITY);
            for (int i = 0; i < in; i++) {
                GemvTest.setWeight(w, kind, 3L * in + i,
                        kind.half ? Float.float16ToFloat((short) (1 + i % 1000)) : Float.MIN_VALUE * (1 + i));
            }
            Data.set(x, 1L * in + 7, Float.NaN);
            Data.set(x, 4L * in + in - 2, Float.NEGATIVE_INFINITY);
            Data.set(x, 5L * in + 2, 0f); // meets the +Inf weight of output 0: NaN
            for (int i = 0; i < in; i++) {
                Data.set(x, 2L * in + i, Float.MIN_VALUE * (i % 50 + 1));
            }
            MemorySegment yv = Data.alloc(arena, (long) tokens * out, 4);
            MemorySegment yr = Data.alloc(arena, (long) tokens * out, 4);
            kind.gemm(w, x, yv, tokens, out, in);
            kind.gemmReference(w, x, yr, tokens, out, in);
            Data.checkAgainstReference("gemm " + kind + " specials", w, kind.half, x, yv, yr, tokens, out, in);
            org.junit.jupiter.api.Assertions.assertTrue(Float.isNaN(Data.get(yr, 5L * out)));
        }
    }

    private static void run(Kind kind, SplittableRandom rnd, int tokens, int out, int in) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = weights(arena, kind, (long) out * in, rnd);
            MemorySegment x = Data.randomF32(arena, (long) tokens * in, rnd);
            long ny = (long) tokens * out;
            MemorySegment yv = Data.alloc(arena, ny, 4);
            MemorySegment yp = Data.alloc(arena, ny, 4);
            MemorySegment yr = Data.alloc(arena, ny, 4);
            String what = "gemm " + kind + " " + tokens + "x" + out + "x" + in;
            kind.gemmOutputs(w, x, yv, tokens, out, in, 0, out);
            kind.gemm(w, x, yp, tokens, out, in);
            kind.gemmReference(w, x, yr, tokens, out, in);
            Data.checkAgainstTruth(what + " vector", w, kind.half, x, yv, tokens, out, in);
            Data.checkAgainstTruth(what + " reference", w, kind.half, x, yr, tokens, out, in);
            Data.assertSameBits(what + " parallel vs single thread", yp, yv, ny);
        }
    }

    static MemorySegment weights(Arena arena, Kind kind, long count, SplittableRandom rnd) {
        return kind.half ? Data.randomF16(arena, count, rnd) : Data.randomF32(arena, count, rnd);
    }
}
