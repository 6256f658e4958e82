package dev.gale.kernels.norm;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Device kernels of the norm family, in Gale's SIMT subset (translated to OpenCL C and CUDA C by gale-compiler).
 *
 * <p>Geometry: one work group of {@code group} items per row, {@code Grid.of1(rows * group, group)}. Each item walks
 * the row with stride {@code group}, so neighbouring items touch neighbouring elements (contiguous across the group:
 * a CPU OpenCL compiler vectorises across items, a GPU coalesces). Per-item partial sums meet in local memory and
 * item 0 adds the {@code group} partials in a plain loop (no deep barrier tree: on PoCL every barrier ends a
 * vectorised region). Layout and contract as {@code RmsNorm} and {@code LayerNorm}: {@code rows × dim} row-major F32.
 */
public final class NormKernels {
    private NormKernels() {
    }

    /**
     * Sum of every item's {@code v} over the work group, returned to all items. {@code scratch} holds at least
     * {@code group + 1} floats.
     */
    @DeviceFunction
    static float groupSum(KernelContext ctx, float[] scratch, float v, int group) {
        int lid = ctx.localId(0);
        scratch[lid] = v;
        ctx.barrier();
        if (lid == 0) {
            float s = 0.0f;
            for (int j = 0; j < group; j++) {
                s += scratch[j];
            }
            scratch[group] = s;
        }
        ctx.barrier();
        float total = scratch[group];
        ctx.barrier();
        return total;
    }

    /** RMSNorm of row {@code groupId(0)}: {@code out = x / sqrt(mean(x²) + eps) · w}. */
    @Kernel
    public static void rmsNorm(KernelContext ctx, F32 x, F32 w, F32 out, int dim, float eps, @Const int group) {
        float[] scratch = ctx.localFloats(group + 1);
        long row = (long) ctx.groupId(0) * dim;
        float ss = 0.0f;
        for (int i = ctx.localId(0); i < dim; i += group) {
            float v = x.get(row + i);
            ss += v * v;
        }
        float total = groupSum(ctx, scratch, ss, group);
        float scale = 1.0f / KMath.sqrt(total / dim + eps);
        for (int i = ctx.localId(0); i < dim; i += group) {
            out.set(row + i, x.get(row + i) * scale * w.get(i));
        }
    }

    /** LayerNorm of row {@code groupId(0)}, two passes: {@code out = (x − mean) / sqrt(var + eps) · g + b}. */
    @Kernel
    public static void layerNorm(KernelContext ctx, F32 x, F32 g, F32 b, F32 out, int dim, float eps,
            @Const int group) {
        float[] scratch = ctx.localFloats(group + 1);
        long row = (long) ctx.groupId(0) * dim;
        float s = 0.0f;
        for (int i = ctx.localId(0); i < dim; i += group) {
            s += x.get(row + i);
        }
        float mean = groupSum(ctx, scratch, s, group) / dim;
        float sq = 0.0f;
        for (int i = ctx.localId(0); i < dim; i += group) {
            float d = x.get(row + i) - mean;
            sq += d * d;
        }
        float var = groupSum(ctx, scratch, sq, group) / dim;
        float rstd = 1.0f / KMath.sqrt(var + eps);
        for (int i = ctx.localId(0); i < dim; i += group) {
            out.set(row + i, (x.get(row + i) - mean) * rstd * g.get(i) + b.get(i));
        }
    }
}
