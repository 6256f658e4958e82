package dev.gale.kernels.activation;

import static dev.gale.kernels.activation.ElemTestSupport.AWKWARD;
import static dev.gale.kernels.activation.ElemTestSupport.PAD;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** SiLU, GELU (both forms), SwiGLU and residual add against their references. */
@Tag("vector")
class ElementwiseTest {
    private static final float[] SPECIALS = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f,
        Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, -1e-30f, 1e-30f, -90f, -60f, -20f, -9f, -5.5f, 5.5f, 90f,
        1e20f, -1e20f, Float.MAX_VALUE, -Float.MAX_VALUE};

    private interface Unary {
        void run(MemorySegment x, long xOff, MemorySegment out, long outOff, long n);
    }

    /** Input: gaussian data of scale 4 with the special values spread in, so tails and vector lanes both see them. */
    private static float[] data(Random rnd, int n) {
        float[] x = ElemTestSupport.gaussian(rnd, n, 4);
        for (int i = 0; i < n; i += 3) {
            x[i] = SPECIALS[(i / 3) % SPECIALS.length];
        }
        return x;
    }

    /**
     * The activations' error bound: relative to the output, widened by the function's condition number
     * {@code |x·f'(x)/f(x)|} (the rounding of x, or of an inner product like x/√2, is amplified by it in the deep
     * negative tail where f decays like e^{−x²/2} or e^{x}), plus 16 subnormal ulps where the output (or a factor of
     * it) is subnormal and only has absolute precision.
     */
    private static double[] bounds(float[] x, float[] want, double rel, DoubleUnaryOperator cond) {
        double[] b = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            b[i] = (rel + 4 * Numerics.U_F32 * cond.applyAsDouble(x[i])) * Math.abs(want[i]) + 16 * Float.MIN_VALUE;
        }
        return b;
    }

    private static void checkUnary(String name, Unary ref, Unary vec, Unary par, double rel,
            DoubleUnaryOperator cond) {
        Random rnd = new Random(name.hashCode());
        for (int n : new int[] {1, 7, 31, 33, 4095, 4097, 70_001}) {
            float[] x = data(rnd, n);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment in = ElemTestSupport.segment(arena, x);
                MemorySegment r = ElemTestSupport.output(arena, n);
                MemorySegment v = ElemTestSupport.output(arena, n);
                MemorySegment p = ElemTestSupport.output(arena, n);
                ref.run(in, PAD, r, PAD, n);
                vec.run(in, PAD, v, PAD, n);
                par.run(in, PAD, p, PAD, n);
                float[] want = ElemTestSupport.read(r, n);
                float[] got = ElemTestSupport.read(v, n);
                ElemTestSupport.assertWithin(name + " n=" + n, want, got, bounds(x, want, rel, cond));
                assertArrayEquals(got, ElemTestSupport.read(p, n), name + ": parallel == single-thread");
                vec.run(in, PAD, in, PAD, n);
                assertArrayEquals(got, ElemTestSupport.read(in, n), name + ": in place");
            }
        }
    }

    @Test
    void silu() {
        checkUnary("silu", Silu::reference, Silu::apply, Silu::applyParallel, 1e-6, x -> 1 + Math.abs(x));
    }

    @Test
    void geluErf() {
        checkUnary("gelu-erf", (x, xo, o, oo, n) -> Gelu.reference(Gelu.Variant.ERF, x, xo, o, oo, n),
                (x, xo, o, oo, n) -> Gelu.apply(Gelu.Variant.ERF, x, xo, o, oo, n),
                (x, xo, o, oo, n) -> Gelu.applyParallel(Gelu.Variant.ERF, x, xo, o, oo, n), 1e-6, x -> 1 + x * x);
    }

    @Test
    void geluTanh() {
        checkUnary("gelu-tanh", (x, xo, o, oo, n) -> Gelu.reference(Gelu.Variant.TANH, x, xo, o, oo, n),
                (x, xo, o, oo, n) -> Gelu.apply(Gelu.Variant.TANH, x, xo, o, oo, n),
                (x, xo, o, oo, n) -> Gelu.applyParallel(Gelu.Variant.TANH, x, xo, o, oo, n), 1e-6,
                x -> 1 + 1.6 * (Math.abs(x) + 0.134 * Math.abs(x * x * x)));
    }

    @Test
    void activationLimits() {
        try (Arena arena = Arena.ofShared()) {
            float[] x = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, -0f};
            MemorySegment in = ElemTestSupport.segment(arena, x);
            MemorySegment out = ElemTestSupport.output(arena, x.length);
            for (Gelu.Variant v : Gelu.Variant.values()) {
                Gelu.apply(v, in, PAD, out, PAD, x.length);
                float[] y = ElemTestSupport.read(out, x.length);
                assertEquals(-0f, y[0], v + "(-Inf)");
                assertEquals(Float.POSITIVE_INFINITY, y[1], v + "(+Inf)");
                assertTrue(Float.isNaN(y[2]), v + "(NaN)");
            }
            Silu.apply(in, PAD, out, PAD, x.length);
            float[] y = ElemTestSupport.read(out, x.length);
            assertEquals(-0f, y[0]);
            assertEquals(Float.POSITIVE_INFINITY, y[1]);
            assertTrue(Float.isNaN(y[2]));
            // Known values: GELU(1) = 0.8413447, GELU_tanh(1) = 0.8411920, SiLU(1) = 0.7310586.
            MemorySegment one = ElemTestSupport.segment(arena, new float[] {1f});
            Gelu.apply(Gelu.Variant.ERF, one, PAD, out, PAD, 1);
            assertEquals(0.8413447f, ElemTestSupport.read(out, 1)[0], 1e-7f);
            Gelu.apply(Gelu.Variant.TANH, one, PAD, out, PAD, 1);
            assertEquals(0.8411920f, ElemTestSupport.read(out, 1)[0], 1e-7f);
            Silu.apply(one, PAD, out, PAD, 1);
            assertEquals(0.7310586f, ElemTestSupport.read(out, 1)[0], 1e-7f);
        }
    }

    @Test
    void swiglu() {
        Random rnd = new Random(7);
        for (int n : new int[] {1, 7, 31, 33, 4095, 4097, 70_001}) {
            float[] g = data(rnd, n);
            float[] u = ElemTestSupport.gaussian(rnd, n, 2);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment gs = ElemTestSupport.segment(arena, g);
                MemorySegment us = ElemTestSupport.segment(arena, u);
                MemorySegment r = ElemTestSupport.output(arena, n);
                MemorySegment v = ElemTestSupport.output(arena, n);
                MemorySegment p = ElemTestSupport.output(arena, n);
                SwiGlu.reference(gs, PAD, us, PAD, r, PAD, n);
                SwiGlu.apply(gs, PAD, us, PAD, v, PAD, n);
                SwiGlu.applyParallel(gs, PAD, us, PAD, p, PAD, n);
                float[] want = ElemTestSupport.read(r, n);
                float[] got = ElemTestSupport.read(v, n);
                ElemTestSupport.assertWithin("swiglu n=" + n, want, got, bounds(g, want, 1e-6, x -> 1 + Math.abs(x)));
                assertArrayEquals(got, ElemTestSupport.read(p, n));
            }
        }
    }

    @Test
    void residualAddIsExact() {
        Random rnd = new Random(8);
        for (int n : new int[] {1, 7, 31, 33, 4095, 4097, 70_001}) {
            float[] a = data(rnd, n);
            float[] b = ElemTestSupport.gaussian(rnd, n, 2);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment as = ElemTestSupport.segment(arena, a);
                MemorySegment bs = ElemTestSupport.segment(arena, b);
                MemorySegment r = ElemTestSupport.output(arena, n);
                MemorySegment v = ElemTestSupport.output(arena, n);
                MemorySegment p = ElemTestSupport.output(arena, n);
                ResidualAdd.reference(as, PAD, bs, PAD, r, PAD, n);
                ResidualAdd.apply(as, PAD, bs, PAD, v, PAD, n);
                ResidualAdd.applyParallel(as, PAD, bs, PAD, p, PAD, n);
                float[] want = ElemTestSupport.read(r, n);
                assertArrayEquals(want, ElemTestSupport.read(v, n));
                assertArrayEquals(want, ElemTestSupport.read(p, n));
                ResidualAdd.addInPlace(as, PAD, bs, PAD, n);
                assertArrayEquals(want, ElemTestSupport.read(as, n), "in place");
            }
        }
    }

    @Test
    void rejectsBadInput() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate(4L * 64);
            MemorySegment b = arena.allocate(4L * 32);
            var e = assertThrows(ShapeMismatchException.class, () -> ResidualAdd.apply(a, 0, b, 0, a, 0, 64));
            assertTrue(e.getMessage().contains("'b'") && e.getMessage().contains("64"), e.getMessage());
            assertThrows(ShapeMismatchException.class, () -> SwiGlu.apply(a, 0, b, 0, a, 0, 64));
            assertThrows(ShapeMismatchException.class, () -> Silu.apply(a, 4, a, 0, 64));
            assertThrows(ShapeMismatchException.class, () -> Gelu.apply(Gelu.Variant.ERF, a, 0, b, 0, 64));
            assertThrows(ShapeMismatchException.class, () -> Silu.apply(a, -4, a, 0, 4));
        }
    }
}
