package dev.gale.kernels.activation;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Device kernels of the activation family, in Gale's SIMT subset, with the contracts of {@code Silu}, {@code SwiGlu},
 * {@code Gelu}, {@code ResidualAdd} and {@code Softmax}.
 *
 * <p>Geometry. Element-wise kernels: one item per element, {@code Grid.of1(roundUp(n, local), local)}; items past
 * {@code n} do nothing. Softmax: one work group of {@code group} items per row, {@code Grid.of1(rows * group, group)};
 * items walk the row with stride {@code group} (contiguous across items), partial maxima and sums meet in local
 * memory and item 0 combines them in a plain loop.
 */
public final class ActivationKernels {
    private static final float SQRT1_2 = 0.70710678118654752f;
    private static final float TWO_SQRT_2_PI = 1.5957691216057308f;
    private static final float TANH_C = 0.044715f;

    private ActivationKernels() {
    }

    /** x·σ(x), with SiLU(−Inf) = −0 (the limit; the formula would give NaN). */
    @DeviceFunction
    static float siluOf(float v) {
        if (v == Float.NEGATIVE_INFINITY) {
            return -0.0f;
        }
        return v / (1.0f + KMath.exp(-v));
    }

    @Kernel
    public static void silu(KernelContext ctx, F32 x, F32 out, int n) {
        int i = ctx.globalId(0);
        if (i < n) {
            out.set(i, siluOf(x.get(i)));
        }
    }

    /** {@code out = silu(gate) · up}. */
    @Kernel
    public static void swiGlu(KernelContext ctx, F32 gate, F32 up, F32 out, int n) {
        int i = ctx.globalId(0);
        if (i < n) {
            out.set(i, siluOf(gate.get(i)) * up.get(i));
        }
    }

    /** Exact GELU {@code ½·x·(1 + erf(x/√2))}; GELU(−Inf) = −0. */
    @Kernel
    public static void geluErf(KernelContext ctx, F32 x, F32 out, int n) {
        int i = ctx.globalId(0);
        if (i < n) {
            float v = x.get(i);
            float r = 0.5f * v * (1.0f + KMath.erf(v * SQRT1_2));
            if (v == Float.NEGATIVE_INFINITY) {
                r = -0.0f;
            }
            out.set(i, r);
        }
    }

    /**
     * Tanh GELU through {@code ½(1 + tanh u) = σ(2u)}, {@code u = √(2/π)(x + 0.044715·x³)}; GELU(−Inf) = −0.
     */
    @Kernel
    public static void geluTanh(KernelContext ctx, F32 x, F32 out, int n) {
        int i = ctx.globalId(0);
        if (i < n) {
            float v = x.get(i);
            float u2 = TWO_SQRT_2_PI * (v + TANH_C * v * v * v);
            float r = v / (1.0f + KMath.exp(-u2));
            if (v == Float.NEGATIVE_INFINITY) {
                r = -0.0f;
            }
            out.set(i, r);
        }
    }

    /** {@code out = a + b}, the correctly rounded F32 sum. */
    @Kernel
    public static void residualAdd(KernelContext ctx, F32 a, F32 b, F32 out, int n) {
        int i = ctx.globalId(0);
        if (i < n) {
            out.set(i, a.get(i) + b.get(i));
        }
    }

    /**
     * Softmax of row {@code groupId(0)} with inverse temperature {@code scale}: {@code -Inf} entries give 0, a fully
     * masked row gives zeros, a row with NaN or {@code +Inf} gives NaN.
     */
    @Kernel
    public static void softmax(KernelContext ctx, F32 x, F32 out, int dim, float scale, @Const int group) {
        float[] scratch = ctx.localFloats(group + 1);
        int lid = ctx.localId(0);
        long row = (long) ctx.groupId(0) * dim;
        float m = Float.NEGATIVE_INFINITY;
        for (int i = lid; i < dim; i += group) {
            m = KMath.max(m, x.get(row + i));
        }
        scratch[lid] = m;
        ctx.barrier();
        if (lid == 0) {
            float all = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < group; j++) {
                all = KMath.max(all, scratch[j]);
            }
            scratch[group] = all;
        }
        ctx.barrier();
        float max = scratch[group];
        ctx.barrier();
        boolean finite = !Float.isNaN(max) && max != Float.POSITIVE_INFINITY && max != Float.NEGATIVE_INFINITY;
        float s = 0.0f;
        if (finite) {
            for (int i = lid; i < dim; i += group) {
                s += KMath.exp((x.get(row + i) - max) * scale);
            }
        }
        scratch[lid] = s;
        ctx.barrier();
        if (lid == 0) {
            float total = 0.0f;
            for (int j = 0; j < group; j++) {
                total += scratch[j];
            }
            scratch[group] = total;
        }
        ctx.barrier();
        float inv = 1.0f / scratch[group];
        float fill = max == Float.NEGATIVE_INFINITY ? 0.0f : Float.NaN;
        for (int i = lid; i < dim; i += group) {
            if (finite) {
                out.set(row + i, KMath.exp((x.get(row + i) - max) * scale) * inv);
            } else {
                out.set(row + i, fill);
            }
        }
    }
}
