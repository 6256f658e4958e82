package dev.gale.kernels.activation;

import static dev.gale.kernels.activation.ElemTestSupport.AWKWARD;
import static dev.gale.kernels.activation.ElemTestSupport.PAD;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("vector")
class SoftmaxTest {
    /** Per element: the contract's relative bound plus the rounding of the exp argument, relative to the output. */
    private static double[] bounds(float[] x, float[] want, int rows, int dim, float scale) {
        double[] b = new double[want.length];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < dim; i++) {
                max = Math.max(max, x[r * dim + i]);
            }
            for (int i = 0; i < dim; i++) {
                double arg = Math.abs((x[r * dim + i] - max) * scale) + Math.abs(max * scale);
                b[r * dim + i] = Math.abs(want[r * dim + i]) * (Numerics.F32_REL + 4 * Numerics.U_F32 * arg)
                        + 2 * Float.MIN_VALUE;
            }
        }
        return b;
    }

    private static void compare(float[] x, int rows, int dim, float scale) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment in = ElemTestSupport.segment(arena, x);
            MemorySegment ref = ElemTestSupport.output(arena, x.length);
            MemorySegment vec = ElemTestSupport.output(arena, x.length);
            MemorySegment par = ElemTestSupport.output(arena, x.length);
            Softmax.reference(in, PAD, ref, PAD, rows, dim, scale);
            Softmax.apply(in, PAD, vec, PAD, rows, dim, scale);
            Softmax.applyParallel(in, PAD, par, PAD, rows, dim, scale);
            float[] want = ElemTestSupport.read(ref, x.length);
            float[] got = ElemTestSupport.read(vec, x.length);
            double[] bounds = bounds(x, want, rows, dim, scale);
            ElemTestSupport.assertWithin("softmax " + rows + "x" + dim, want, got, bounds);
            // Parallel and in place run the same code, but reduceLanes(ADD) is not bit-identical between the
            // interpreter, C1 and C2 (cpu-kernels.md §9.6), so they are held to the same bound, not to equality.
            ElemTestSupport.assertWithin("softmax parallel", want, ElemTestSupport.read(par, x.length), bounds);
            Softmax.apply(in, PAD, in, PAD, rows, dim, scale);
            ElemTestSupport.assertWithin("softmax in place", want, ElemTestSupport.read(in, x.length), bounds);
        }
    }

    @Test
    void matchesReferenceOnAwkwardShapes() {
        Random rnd = new Random(1);
        for (int dim : AWKWARD) {
            for (int rows : new int[] {1, 3, 5}) {
                compare(ElemTestSupport.gaussian(rnd, rows * dim, 3), rows, dim, 1f);
                compare(ElemTestSupport.gaussian(rnd, rows * dim, 3), rows, dim, 0.125f);
            }
        }
        // A vocab row with large logits, a temperature above and below 1.
        compare(ElemTestSupport.gaussian(rnd, 128256, 20), 1, 128256, 1f / 0.7f);
        compare(ElemTestSupport.gaussian(rnd, 7 * 1000, 200), 7, 1000, 0.01f);
    }

    @Test
    void specialRows() {
        int dim = 37;
        int rows = 5;
        float[] x = new float[rows * dim];
        Random rnd = new Random(2);
        for (int i = 0; i < dim; i++) {
            x[i] = 4.25f;                                                     // row 0: all equal
            x[dim + i] = i % 3 == 0 ? Float.NEGATIVE_INFINITY : (float) rnd.nextGaussian(); // row 1: masked
            x[2 * dim + i] = Float.NEGATIVE_INFINITY;                          // row 2: fully masked
            x[3 * dim + i] = (float) rnd.nextGaussian();                       // row 3: a NaN
            x[4 * dim + i] = (float) rnd.nextGaussian();                       // row 4: a +Inf
        }
        x[3 * dim + 17] = Float.NaN;
        x[4 * dim + 30] = Float.POSITIVE_INFINITY;
        x[dim + 5] = Float.MIN_VALUE;                                          // a denormal logit
        try (Arena arena = Arena.ofShared()) {
            MemorySegment in = ElemTestSupport.segment(arena, x);
            for (boolean vector : new boolean[] {false, true}) {
                MemorySegment out = ElemTestSupport.output(arena, x.length);
                if (vector) {
                    Softmax.apply(in, PAD, out, PAD, rows, dim, 1f);
                } else {
                    Softmax.reference(in, PAD, out, PAD, rows, dim, 1f);
                }
                float[] y = ElemTestSupport.read(out, x.length);
                String path = vector ? "vector" : "reference";
                double sum = 0;
                for (int i = 0; i < dim; i++) {
                    assertEquals(y[0], y[i], path + ": all-equal row is uniform");
                    assertEquals(1.0 / dim, y[i], 1e-6 / dim, path);
                    if (i % 3 == 0) {
                        assertEquals(0f, y[dim + i], path + ": masked entry is exactly 0");
                    } else {
                        assertTrue(y[dim + i] > 0, path);
                    }
                    sum += y[dim + i];
                    assertEquals(0f, y[2 * dim + i], path + ": fully masked row gives zeros, not NaN");
                    assertTrue(Float.isNaN(y[3 * dim + i]), path + ": a NaN poisons its row");
                    assertTrue(Float.isNaN(y[4 * dim + i]), path + ": a +Inf poisons its row");
                }
                assertEquals(1.0, sum, 1e-6, path + ": masked row still sums to 1");
            }
        }
    }

    @Test
    void rejectsBadInput() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment small = arena.allocate(4L * 100);
            var e = assertThrows(ShapeMismatchException.class, () -> Softmax.apply(small, 0, small, 0, 2, 64, 1f));
            assertTrue(e.getMessage().contains("'x'") && e.getMessage().contains("128"), e.getMessage());
            assertThrows(ShapeMismatchException.class, () -> Softmax.apply(small, 8, small, 0, 1, 100, 1f));
            assertThrows(ShapeMismatchException.class, () -> Softmax.apply(small, 0, small, 0, 1, 0, 1f));
            assertThrows(ShapeMismatchException.class, () -> Softmax.apply(small, 0, small, 0, -1, 4, 1f));
            assertThrows(IllegalArgumentException.class, () -> Softmax.apply(small, 0, small, 0, 1, 4, 0f));
            assertThrows(IllegalArgumentException.class, () -> Softmax.apply(small, 0, small, 0, 1, 4, Float.NaN));
        }
    }
}
