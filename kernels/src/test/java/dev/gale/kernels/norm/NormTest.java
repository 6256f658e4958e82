package dev.gale.kernels.norm;

import static dev.gale.kernels.activation.ElemTestSupport.AWKWARD;
import static dev.gale.kernels.activation.ElemTestSupport.PAD;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.activation.ElemTestSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * RMSNorm and LayerNorm against their double references. The error is bounded relative to each output's scale:
 * for RMSNorm the output itself (y = x·s·w with one scale per row); for LayerNorm the normalised value times the gain,
 * plus the gain and bias (an error in the row's mean shifts every output by up to |g| in normalised units).
 */
@Tag("vector")
class NormTest {
    private static final int[] ROWS = {1, 3, 5};

    @Test
    void rmsNormMatchesReference() {
        Random rnd = new Random(11);
        for (int dim : AWKWARD) {
            for (int rows : ROWS) {
                for (double scale : new double[] {1e-3, 1, 1e3}) {
                    float[] x = ElemTestSupport.gaussian(rnd, rows * dim, scale);
                    float[] w = ElemTestSupport.gaussian(rnd, dim, 1);
                    try (Arena arena = Arena.ofShared()) {
                        MemorySegment xs = ElemTestSupport.segment(arena, x);
                        MemorySegment ws = ElemTestSupport.segment(arena, w);
                        MemorySegment r = ElemTestSupport.output(arena, x.length);
                        MemorySegment v = ElemTestSupport.output(arena, x.length);
                        MemorySegment p = ElemTestSupport.output(arena, x.length);
                        RmsNorm.reference(xs, PAD, ws, PAD, r, PAD, rows, dim, 1e-6f);
                        RmsNorm.apply(xs, PAD, ws, PAD, v, PAD, rows, dim, 1e-6f);
                        RmsNorm.applyParallel(xs, PAD, ws, PAD, p, PAD, rows, dim, 1e-6f);
                        float[] want = ElemTestSupport.read(r, x.length);
                        float[] got = ElemTestSupport.read(v, x.length);
                        double[] b = new double[x.length];
                        for (int i = 0; i < b.length; i++) {
                            b[i] = Numerics.F32_REL * Math.abs(want[i]) + Float.MIN_NORMAL;
                        }
                        ElemTestSupport.assertWithin("rmsnorm " + rows + "x" + dim, want, got, b);
                        // Same code, but reduceLanes(ADD) differs between interpreter and JIT in the last bit:
                        // parallel and in place are held to the bound, not to equality.
                        ElemTestSupport.assertWithin("rmsnorm parallel", want, ElemTestSupport.read(p, x.length), b);
                        RmsNorm.apply(xs, PAD, ws, PAD, xs, PAD, rows, dim, 1e-6f);
                        ElemTestSupport.assertWithin("rmsnorm in place", want, ElemTestSupport.read(xs, x.length), b);
                    }
                }
            }
        }
    }

    private static void layerNormCase(Random rnd, int rows, int dim, double mean, double spread) {
        float[] x = new float[rows * dim];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (mean + spread * rnd.nextGaussian());
        }
        float[] g = ElemTestSupport.gaussian(rnd, dim, 1);
        float[] bias = ElemTestSupport.gaussian(rnd, dim, 0.5);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment xs = ElemTestSupport.segment(arena, x);
            MemorySegment gs = ElemTestSupport.segment(arena, g);
            MemorySegment bs = ElemTestSupport.segment(arena, bias);
            MemorySegment r = ElemTestSupport.output(arena, x.length);
            MemorySegment v = ElemTestSupport.output(arena, x.length);
            MemorySegment p = ElemTestSupport.output(arena, x.length);
            LayerNorm.reference(xs, PAD, gs, PAD, bs, PAD, r, PAD, rows, dim, 1e-5f);
            LayerNorm.apply(xs, PAD, gs, PAD, bs, PAD, v, PAD, rows, dim, 1e-5f);
            LayerNorm.applyParallel(xs, PAD, gs, PAD, bs, PAD, p, PAD, rows, dim, 1e-5f);
            float[] want = ElemTestSupport.read(r, x.length);
            float[] got = ElemTestSupport.read(v, x.length);
            double[] b = new double[x.length];
            for (int i = 0; i < b.length; i++) {
                int c = i % dim;
                b[i] = Numerics.F32_REL * (Math.abs(want[i] - bias[c]) + Math.abs(g[c]) + Math.abs(bias[c]))
                        + Float.MIN_NORMAL;
            }
            ElemTestSupport.assertWithin("layernorm " + rows + "x" + dim + " mean " + mean, want, got, b);
            ElemTestSupport.assertWithin("layernorm parallel", want, ElemTestSupport.read(p, x.length), b);
            LayerNorm.apply(xs, PAD, gs, PAD, bs, PAD, xs, PAD, rows, dim, 1e-5f);
            ElemTestSupport.assertWithin("layernorm in place", want, ElemTestSupport.read(xs, x.length), b);
        }
    }

    @Test
    void layerNormMatchesReference() {
        Random rnd = new Random(12);
        for (int dim : AWKWARD) {
            for (int rows : ROWS) {
                layerNormCase(rnd, rows, dim, 0, 1);
                layerNormCase(rnd, rows, dim, 3, 1e-2);
            }
        }
    }

    @Test
    void layerNormIsStableForLargeMeans() {
        Random rnd = new Random(13);
        // A mean 10^4 times the spread: E[x²] − E[x]² would lose every digit of the variance in F32.
        layerNormCase(rnd, 3, 4097, 1e4, 1);
        layerNormCase(rnd, 2, 768, -5e3, 0.5);
        layerNormCase(rnd, 2, 33, 1e5, 3);
    }

    @Test
    void rejectsBadInput() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = arena.allocate(4L * 64);
            MemorySegment w = arena.allocate(4L * 16);
            var e = assertThrows(ShapeMismatchException.class,
                    () -> RmsNorm.apply(x, 0, w, 0, x, 0, 2, 32, 1e-5f));
            assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("32"), e.getMessage());
            e = assertThrows(ShapeMismatchException.class,
                    () -> LayerNorm.apply(x, 0, x, 0, w, 0, x, 0, 2, 32, 1e-5f));
            assertTrue(e.getMessage().contains("'b'"), e.getMessage());
            assertThrows(ShapeMismatchException.class, () -> RmsNorm.apply(x, 0, x, 0, x, 0, 3, 32, 1e-5f));
            assertThrows(ShapeMismatchException.class, () -> RmsNorm.apply(x, 0, x, 0, x, 0, 1, 0, 1e-5f));
            assertThrows(IllegalArgumentException.class, () -> RmsNorm.apply(x, 0, x, 0, x, 0, 1, 8, -1f));
        }
    }
}
