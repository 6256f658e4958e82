package dev.gale.kernels.gemm;

import static dev.gale.kernels.gemm.Data.F16;
import static dev.gale.kernels.gemm.Data.F32;
import static dev.gale.kernels.gemm.Data.OFF;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * GEMV (F32 and F16 weights): Vector API path against the scalar reference and a double-precision truth.
 *
 * <p>Results of two calls are compared through the bound, not bit for bit: {@code reduceLanes(ADD)} sums lanes in a
 * different order in the interpreter than in C2-compiled code, so a call made before and one made after compilation
 * can differ in the last bit.
 */
@Tag("vector")
class GemvTest {
    private static final int[] INS = {1, 7, 31, 33, 4095, 4097};
    /** Row counts: single rows, not multiples of the 4-row block, not multiples of 2 threads. */
    private static final int[] OUTS = {1, 3, 5, 13, 67};

    @ParameterizedTest
    @EnumSource(Kind.class)
    void matchesTruthOnAwkwardShapes(Kind kind) {
        SplittableRandom rnd = new SplittableRandom(42);
        for (int in : INS) {
            for (int out : OUTS) {
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment w = kind.half ? Data.randomF16(arena, (long) out * in, rnd)
                            : Data.randomF32(arena, (long) out * in, rnd);
                    MemorySegment x = Data.randomF32(arena, in, rnd);
                    MemorySegment yv = Data.alloc(arena, out, 4);
                    MemorySegment yr = Data.alloc(arena, out, 4);
                    MemorySegment yp = Data.alloc(arena, out, 4);
                    String what = "gemv " + kind + " " + out + "x" + in;
                    kind.gemvRows(w, x, yv, out, in, 0, out);
                    kind.gemvReference(w, x, yr, out, in);
                    kind.gemv(w, x, yp, out, in);
                    Data.checkAgainstTruth(what + " vector", w, kind.half, x, yv, 1, out, in);
                    Data.checkAgainstTruth(what + " reference", w, kind.half, x, yr, 1, out, in);
                    Data.checkAgainstTruth(what + " parallel", w, kind.half, x, yp, 1, out, in);
                }
            }
        }
    }

    /** A shape big enough that the shared pool really splits it, with a row count that is not a multiple of 8. */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void parallelSplitMatchesSingleThread(Kind kind) {
        SplittableRandom rnd = new SplittableRandom(7);
        int out = 1001;
        int in = 1029;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = kind.half ? Data.randomF16(arena, (long) out * in, rnd)
                    : Data.randomF32(arena, (long) out * in, rnd);
            MemorySegment x = Data.randomF32(arena, in, rnd);
            MemorySegment ys = Data.alloc(arena, out, 4);
            MemorySegment yp = Data.alloc(arena, out, 4);
            kind.gemvRows(w, x, ys, out, in, 0, out);
            kind.gemv(w, x, yp, out, in);
            Data.checkAgainstTruth("gemv " + kind + " single thread", w, kind.half, x, ys, 1, out, in);
            Data.checkAgainstTruth("gemv " + kind + " parallel", w, kind.half, x, yp, 1, out, in);
        }
    }

    /** Row sub-ranges write exactly their rows and nothing else. */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void rowRangeWritesOnlyItsRows(Kind kind) {
        SplittableRandom rnd = new SplittableRandom(3);
        int out = 23;
        int in = 40;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = kind.half ? Data.randomF16(arena, (long) out * in, rnd)
                    : Data.randomF32(arena, (long) out * in, rnd);
            MemorySegment x = Data.randomF32(arena, in, rnd);
            MemorySegment y = Data.alloc(arena, out, 4);
            for (int o = 0; o < out; o++) {
                Data.set(y, o, -7f);
            }
            kind.gemvRows(w, x, y, out, in, 5, 11);
            for (int o = 0; o < out; o++) {
                if (o < 5 || o >= 11) {
                    org.junit.jupiter.api.Assertions.assertEquals(-7f, Data.get(y, o), "row " + o + " was written");
                    Data.set(y, o, 0f);
                    for (int i = 0; i < in; i++) {
                        Data.set(y, o, Data.get(y, o) + Data.weight(w, kind.half, (long) o * in + i) * Data.get(x, i));
                    }
                }
            }
            Data.checkAgainstTruth("gemv " + kind + " rows [5, 11)", w, kind.half, x, y, 1, out, in);
        }
    }

    /**
     * NaN and ±Inf in weights or activations, subnormal weights and activations, in the vector part and in the
     * scalar tail of rows: NaN-ness and infinities exactly as the reference, the rest within the bound.
     */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void specialValuesPropagateLikeTheReference(Kind kind) {
        SplittableRandom rnd = new SplittableRandom(11);
        int out = 14;
        int in = 37;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = kind.half ? Data.randomF16(arena, (long) out * in, rnd)
                    : Data.randomF32(arena, (long) out * in, rnd);
            MemorySegment x = Data.randomF32(arena, in, rnd);
            float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
            // Row 0: +Inf weight; row 1: -Inf weight in the tail; row 2: NaN weight; row 3: +Inf and -Inf (NaN);
            // row 4: Inf weight against a zero activation (NaN); rows 5, 6: subnormal weights.
            setWeight(w, kind, 0 * in + 3, Float.POSITIVE_INFINITY);
            setWeight(w, kind, 1 * in + in - 1, Float.NEGATIVE_INFINITY);
            setWeight(w, kind, 2 * in + 20, Float.NaN);
            setWeight(w, kind, 3 * in + 1, Float.POSITIVE_INFINITY);
            setWeight(w, kind, 3 * in + 2, Float.NEGATIVE_INFINITY);
            setWeight(w, kind, 4 * in + 9, specials[1]);
            Data.set(x, 9, 0f);
            Data.set(x, 1, 0.5f);
            Data.set(x, 2, 0.25f);
            for (int i = 0; i < in; i++) {
                setWeight(w, kind, 5 * in + i,
                        kind.half ? Float.float16ToFloat((short) (1 + i)) : Float.MIN_VALUE * (i + 1));
                setWeight(w, kind, 6 * in + i, kind.half ? Float.float16ToFloat((short) (0x8000 | 0x3ff - i))
                        : -Float.MIN_NORMAL / (i + 2));
            }
            MemorySegment yv = Data.alloc(arena, out, 4);
            MemorySegment yr = Data.alloc(arena, out, 4);
            kind.gemvRows(w, x, yv, out, in, 0, out);
            kind.gemvReference(w, x, yr, out, in);
            Data.checkAgainstReference("gemv " + kind + " specials in weights", w, kind.half, x, yv, yr, 1, out, in);
            org.junit.jupiter.api.Assertions.assertTrue(Float.isNaN(Data.get(yr, 3)) && Float.isNaN(Data.get(yr, 4)),
                    "reference rows 3, 4: " + Data.get(yr, 3) + ", " + Data.get(yr, 4));

            // Specials in the activations: NaN in the vector part, +Inf in the tail, subnormal activations.
            MemorySegment w2 = kind.half ? Data.randomF16(arena, (long) out * in, rnd)
                    : Data.randomF32(arena, (long) out * in, rnd);
            MemorySegment x2 = Data.randomF32(arena, in, rnd);
            for (int i = 0; i < in; i++) {
                Data.set(x2, i, Float.MIN_VALUE * (i + 1));
            }
            MemorySegment y2v = Data.alloc(arena, out, 4);
            MemorySegment y2r = Data.alloc(arena, out, 4);
            kind.gemvRows(w2, x2, y2v, out, in, 0, out);
            kind.gemvReference(w2, x2, y2r, out, in);
            Data.checkAgainstReference("gemv " + kind + " subnormal activations", w2, kind.half, x2, y2v, y2r, 1, out,
                    in);
            Data.set(x2, 4, Float.NaN);
            Data.set(x2, in - 1, Float.POSITIVE_INFINITY);
            kind.gemvRows(w2, x2, y2v, out, in, 0, out);
            kind.gemvReference(w2, x2, y2r, out, in);
            Data.checkAgainstReference("gemv " + kind + " specials in activations", w2, kind.half, x2, y2v, y2r, 1,
                    out, in);
        }
    }

    /**
     * Activations of 2^15 and more (or NaN) take the exact F16 path (the fast one scales them by 2^112); both paths
     * over the awkward shapes.
     */
    @org.junit.jupiter.api.Test
    void largeActivationsTakeTheExactHalfPath() {
        SplittableRandom rnd = new SplittableRandom(17);
        for (int in : INS) {
            int out = 7;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = Data.randomF16(arena, (long) out * in, rnd);
                MemorySegment x = Data.randomF32(arena, in, rnd);
                Data.set(x, in / 2, 40000f);
                MemorySegment y = Data.alloc(arena, out, 4);
                GemvF16.rows(w, OFF, x, OFF, y, OFF, out, in, 0, out);
                Data.checkAgainstTruth("gemv F16 exact path " + out + "x" + in, w, true, x, y, 1, out, in);
            }
        }
    }

    /** Every finite F16 bit pattern decodes exactly: W holds each one once, x is a power of two per column. */
    @org.junit.jupiter.api.Test
    void everyFiniteHalfDecodesExactly() {
        int in = 64;
        int out = 65536 / in;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = Data.alloc(arena, (long) out * in, 2);
            MemorySegment x = Data.alloc(arena, in, 4);
            MemorySegment y = Data.alloc(arena, out, 4);
            MemorySegment yr = Data.alloc(arena, out, 4);
            for (int col = 0; col < in; col++) {
                // One-hot activation: each output is then exactly one decoded weight (finite weights only, so no
                // Inf·0); infinities and NaNs are masked to zero here and covered by the specials test.
                for (int i = 0; i < in; i++) {
                    Data.set(x, i, i == col ? 1f : 0f);
                }
                for (int o = 0; o < out; o++) {
                    for (int i = 0; i < in; i++) {
                        int h = o * in + i;
                        w.set(F16, OFF + 2L * (o * in + i), (h & 0x7c00) == 0x7c00 ? 0 : (short) h);
                    }
                }
                GemvF16.rows(w, OFF, x, OFF, y, OFF, out, in, 0, out);
                GemvF16.reference(w, OFF, x, OFF, yr, OFF, out, in);
                for (int o = 0; o < out; o++) {
                    int h = o * in + col;
                    float want = (h & 0x7c00) == 0x7c00 ? 0f : Float.float16ToFloat((short) h);
                    // A ±0 weight plus the +0 products of the other columns may come out as +0: compare zeros
                    // by magnitude, everything else bit for bit.
                    int mask = want == 0 ? 0x7fffffff : -1;
                    org.junit.jupiter.api.Assertions.assertEquals(Float.floatToRawIntBits(want) & mask,
                            Float.floatToRawIntBits(y.get(F32, OFF + 4L * o)) & mask,
                            "half 0x" + Integer.toHexString(h));
                    org.junit.jupiter.api.Assertions.assertEquals(Math.abs(want), Math.abs(yr.get(F32, OFF + 4L * o)));
                }
            }
        }
    }

    static void setWeight(MemorySegment w, Kind kind, long i, float v) {
        if (kind.half) {
            w.set(F16, OFF + 2 * i, Float.floatToFloat16(v));
        } else {
            w.set(F32, OFF + 4 * i, v);
        }
    }
}
