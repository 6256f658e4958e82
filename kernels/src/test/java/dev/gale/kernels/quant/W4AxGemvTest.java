package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The W4Ax decode GEMV's group-128 path (four rows per pass, one XOR-and-shift unpack per byte): extreme codes
 * against the integer reference, and row bits independent of how a row range is split.
 */
@Tag("vector")
class W4AxGemvTest {
    private static final ValueLayout.OfFloat F = QuantVectors.F32;

    /**
     * Every byte value (so every pair of signed nibbles, −8 included) against A8 codes of ±127 and A4 codes of ±7:
     * the block sums reach their largest magnitudes and must still be exact before the scale.
     */
    @Test
    void extremeCodesMatchTheReference() {
        int rows = 11;
        int in = 512;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment codes = arena.allocate((long) rows * in / 2, 64);
            for (long i = 0; i < codes.byteSize(); i++) {
                codes.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 37 + i / 256));
            }
            MemorySegment scales = arena.allocate(4L * rows * (in / 128), 64);
            for (int i = 0; i < rows * (in / 128); i++) {
                scales.set(F, 4L * i, 0.01f * (1 + i % 5));
            }
            W4Weights w = W4Weights.of(rows, in, 128, codes, scales);
            MemorySegment x = arena.allocate(4L * in, 64);
            for (int c = 0; c < in; c++) {
                x.set(F, 4L * c, (c % 3 == 0 ? -1f : 1f) * (c % 128 < 64 ? 5f : 3f));
            }
            for (boolean a8 : new boolean[] {true, false}) {
                ActivationQuant a = ActivationQuant.allocate(1, in, ActivationQuant.uniform(in, a8), arena);
                a.quantize(x, 0, 1);
                MemorySegment y = arena.allocate(4L * rows);
                W4AxMatmul.matmul(w, a, y, 0, 0, rows);
                for (int o = 0; o < rows; o++) {
                    double want = W4AxMatmul.reference(w, a, 0, o);
                    double bound = Numerics.dotBound(W4AxMatmul.sumAbs(w, a, 0, o), in);
                    float got = y.get(F, 4L * o);
                    assertTrue(Math.abs(got - want) <= bound, (a8 ? "A8" : "A4") + " row " + o + ": " + got + " vs "
                            + want + " bound " + bound);
                }
            }
        }
    }

    /** Rows computed in ranges that cut 4-row groups (and by the pool) have the bits of one whole-range call. */
    @Test
    void rowBitsDoNotDependOnTheSplit() {
        SplittableRandom r = new SplittableRandom(8);
        int rows = 1037;
        int in = 384;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment wf = arena.allocate(4L * rows * in, 64);
            for (long i = 0; i < (long) rows * in; i++) {
                wf.set(F, 4 * i, (float) r.nextDouble(-1, 1));
            }
            MemorySegment x = arena.allocate(4L * in, 64);
            for (int c = 0; c < in; c++) {
                x.set(F, 4L * c, (float) r.nextDouble(-2, 2));
            }
            W4Weights w = W4Weights.quantize(wf, 0, rows, in, 128, arena);
            ActivationQuant a = ActivationQuant.allocate(1, in, ActivationQuant.uniform(in, true), arena);
            a.quantize(x, 0, 1);
            MemorySegment whole = arena.allocate(4L * rows);
            MemorySegment cut = arena.allocate(4L * rows);
            MemorySegment pool = arena.allocate(4L * rows);
            W4AxMatmul.matmul(w, a, whole, 0, 0, rows);
            int[] cuts = {0, 3, 5, 6, 517, 1030, rows};
            for (int i = 0; i + 1 < cuts.length; i++) {
                W4AxMatmul.matmul(w, a, cut, 0, cuts[i], cuts[i + 1]);
            }
            W4AxMatmul.matmulParallel(w, a, pool, 0);
            for (int o = 0; o < rows; o++) {
                assertEquals(Float.floatToRawIntBits(whole.get(F, 4L * o)), Float.floatToRawIntBits(cut.get(F, 4L * o)),
                        "row " + o + " computed in cut ranges");
                assertEquals(Float.floatToRawIntBits(whole.get(F, 4L * o)),
                        Float.floatToRawIntBits(pool.get(F, 4L * o)), "row " + o + " computed by the pool");
            }
        }
    }
}
