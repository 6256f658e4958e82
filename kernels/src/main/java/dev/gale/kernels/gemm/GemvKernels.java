package dev.gale.kernels.gemm;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Matrix-vector products {@code y[o] = Σ_i W[o][i] · x[i]} as device kernels, {@code W} row-major {@code [out][in]},
 * argument order as {@code GemvF32}: weights, activations, output, then {@code out, in}.
 *
 * <p>Two geometries, kept side by side because CPU and GPU OpenCL devices prefer different ones:
 * <ul>
 *   <li>{@link #gemvF32Rows}: one item per output row, {@code Grid.of1(roundUp(out, local), local)}; each item sums
 *       its row in four interleaved accumulators (shorter rounding chains), no local
 *       memory and no barrier;</li>
 *   <li>{@link #gemvF32Group}: one work group of {@code group} items per row, {@code Grid.of1(out · group, group)};
 *       item {@code l} sums {@code W[o][l], W[o][l + group], …} (contiguous across items), the partials meet in local
 *       memory and item 0 adds them in a plain loop.</li>
 * </ul>
 * {@link #gemvF16Group} is the second geometry with F16 weights (widened exactly to F32, F32 accumulation).
 */
public final class GemvKernels {
    private GemvKernels() {
    }

    @Kernel
    public static void gemvF32Rows(KernelContext ctx, F32 w, F32 x, F32 y, int out, int in) {
        int o = ctx.globalId(0);
        if (o >= out) {
            return;
        }
        long row = (long) o * in;
        float s0 = 0.0f;
        float s1 = 0.0f;
        float s2 = 0.0f;
        float s3 = 0.0f;
        int i = 0;
        for (; i + 3 < in; i += 4) {
            s0 += w.get(row + i) * x.get(i);
            s1 += w.get(row + i + 1) * x.get(i + 1);
            s2 += w.get(row + i + 2) * x.get(i + 2);
            s3 += w.get(row + i + 3) * x.get(i + 3);
        }
        for (; i < in; i++) {
            s0 += w.get(row + i) * x.get(i);
        }
        y.set(o, (s0 + s1) + (s2 + s3));
    }

    @Kernel
    public static void gemvF32Group(KernelContext ctx, F32 w, F32 x, F32 y, int out, int in, @Const int group) {
        float[] scratch = ctx.localFloats(group);
        int lid = ctx.localId(0);
        int o = ctx.groupId(0);
        long row = (long) o * in;
        float s = 0.0f;
        for (int i = lid; i < in; i += group) {
            s += w.get(row + i) * x.get(i);
        }
        scratch[lid] = s;
        ctx.barrier();
        if (lid == 0) {
            float total = 0.0f;
            for (int j = 0; j < group; j++) {
                total += scratch[j];
            }
            y.set(o, total);
        }
    }

    @Kernel
    public static void gemvF16Group(KernelContext ctx, F16 w, F32 x, F32 y, int out, int in, @Const int group) {
        float[] scratch = ctx.localFloats(group);
        int lid = ctx.localId(0);
        int o = ctx.groupId(0);
        long row = (long) o * in;
        float s = 0.0f;
        for (int i = lid; i < in; i += group) {
            s += w.get(row + i) * x.get(i);
        }
        scratch[lid] = s;
        ctx.barrier();
        if (lid == 0) {
            float total = 0.0f;
            for (int j = 0; j < group; j++) {
                total += scratch[j];
            }
            y.set(o, total);
        }
    }
}
