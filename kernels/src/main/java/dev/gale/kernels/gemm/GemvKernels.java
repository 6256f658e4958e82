package dev.gale.kernels.gemm;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Matrix-vector products {@code y[o] = Σ_i W[o][i] · x[i]} as device kernels, {@code W} row-major {@code [out][in]},
 * argument order as {@code GemvF32}: weights, activations, output, then {@code out, in}.
 *
 * <p>Two geometries, kept side by side because CPU and GPU OpenCL devices prefer different ones (measure with the
 * variant you mean to ship):
 * <ul>
 *   <li>{@link #gemvF32Rows}: one item per output row, {@code Grid.of1(roundUp(out, local), local)}; each item sums
 *       its row in four interleaved accumulators (shorter rounding chains), no local
 *       memory and no barrier;</li>
 *   <li>{@link #gemvF32Group}: one work group of {@code group} items (a power of two) per row,
 *       {@code Grid.of1(out · group, group)}; item {@code l} sums {@code W[o][l], W[o][l + group], …} (contiguous
 *       across items, so a GPU's loads coalesce), and the partials meet in local memory, summed by halving.</li>
 * </ul>
 * {@link #gemvF32Rows16} is the first geometry with sixteen contiguous elements per step. On PoCL (CPU) it was the
 * fastest of the three at 4096×4096 (medians of 15 launches on a loaded 2-core machine: Rows16 about 6-8 ms, Rows
 * 9-10 ms, Group 18-45 ms; the Vector API path about 5 ms), since the group variant pays a barrier region per row.
 * {@link #gemvF16Group} is the second geometry with F16 weights (widened exactly to F32, F32 accumulation). The
 * graph ops launch the row geometries on CPU devices and the group geometry on GPUs ({@code GemvGeometry}).
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

    /**
     * F16 weights, one item per output row: eight accumulators over eight contiguous halves per step, summed in a
     * plain chain at the end. On PoCL this is the shape its compiler vectorises inside an item (each half read with
     * {@code vload_half}, which OpenCL C 1.2 has without {@code cl_khr_fp16}); the group-per-row
     * {@link #gemvF16Group} was 10-16x slower than the Vector API there.
     */
    @Kernel
    public static void gemvF16Rows(KernelContext ctx, F16 w, F32 x, F32 y, int out, int in) {
        int o = ctx.globalId(0);
        if (o >= out) {
            return;
        }
        long row = (long) o * in;
        float s0 = 0.0f;
        float s1 = 0.0f;
        float s2 = 0.0f;
        float s3 = 0.0f;
        float s4 = 0.0f;
        float s5 = 0.0f;
        float s6 = 0.0f;
        float s7 = 0.0f;
        int i = 0;
        for (; i + 7 < in; i += 8) {
            long p = row + i;
            s0 += w.get(p) * x.get(i);
            s1 += w.get(p + 1) * x.get(i + 1);
            s2 += w.get(p + 2) * x.get(i + 2);
            s3 += w.get(p + 3) * x.get(i + 3);
            s4 += w.get(p + 4) * x.get(i + 4);
            s5 += w.get(p + 5) * x.get(i + 5);
            s6 += w.get(p + 6) * x.get(i + 6);
            s7 += w.get(p + 7) * x.get(i + 7);
        }
        float tail = 0.0f;
        for (; i < in; i++) {
            tail += w.get(row + i) * x.get(i);
        }
        y.set(o, s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + tail);
    }

    /**
     * One item per output row like {@link #gemvF32Rows}, with sixteen accumulators over sixteen contiguous elements
     * per step: the shape a CPU compiler can turn into one 16-lane load and multiply-add per step inside an item.
     */
    @Kernel
    public static void gemvF32Rows16(KernelContext ctx, F32 w, F32 x, F32 y, int out, int in) {
        int o = ctx.globalId(0);
        if (o >= out) {
            return;
        }
        long row = (long) o * in;
        float s0 = 0.0f;
        float s1 = 0.0f;
        float s2 = 0.0f;
        float s3 = 0.0f;
        float s4 = 0.0f;
        float s5 = 0.0f;
        float s6 = 0.0f;
        float s7 = 0.0f;
        float s8 = 0.0f;
        float s9 = 0.0f;
        float s10 = 0.0f;
        float s11 = 0.0f;
        float s12 = 0.0f;
        float s13 = 0.0f;
        float s14 = 0.0f;
        float s15 = 0.0f;
        int i = 0;
        for (; i + 15 < in; i += 16) {
            long p = row + i;
            s0 += w.get(p) * x.get(i);
            s1 += w.get(p + 1) * x.get(i + 1);
            s2 += w.get(p + 2) * x.get(i + 2);
            s3 += w.get(p + 3) * x.get(i + 3);
            s4 += w.get(p + 4) * x.get(i + 4);
            s5 += w.get(p + 5) * x.get(i + 5);
            s6 += w.get(p + 6) * x.get(i + 6);
            s7 += w.get(p + 7) * x.get(i + 7);
            s8 += w.get(p + 8) * x.get(i + 8);
            s9 += w.get(p + 9) * x.get(i + 9);
            s10 += w.get(p + 10) * x.get(i + 10);
            s11 += w.get(p + 11) * x.get(i + 11);
            s12 += w.get(p + 12) * x.get(i + 12);
            s13 += w.get(p + 13) * x.get(i + 13);
            s14 += w.get(p + 14) * x.get(i + 14);
            s15 += w.get(p + 15) * x.get(i + 15);
        }
        float tail = 0.0f;
        for (; i < in; i++) {
            tail += w.get(row + i) * x.get(i);
        }
        float a = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
        float b = ((s8 + s9) + (s10 + s11)) + ((s12 + s13) + (s14 + s15));
        y.set(o, (a + b) + tail);
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
        float total = groupSum(ctx, scratch, s, lid, group);
        if (lid == 0) {
            y.set(o, total);
        }
    }

    /**
     * The sum of every item's {@code v} in a work group of {@code group} items (a power of two), by halving: log2
     * steps of one barrier each, instead of one item adding all the partials while the others wait. Every item gets
     * the sum.
     */
    @DeviceFunction
    static float groupSum(KernelContext ctx, float[] scratch, float v, int lid, int group) {
        scratch[lid] = v;
        ctx.barrier();
        for (int h = group / 2; h > 0; h = h / 2) {
            if (lid < h) {
                scratch[lid] = scratch[lid] + scratch[lid + h];
            }
            ctx.barrier();
        }
        return scratch[0];
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
        float total = groupSum(ctx, scratch, s, lid, group);
        if (lid == 0) {
            y.set(o, total);
        }
    }
}
