package dev.gale.kernels.quant;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.I8;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;
import dev.gale.core.kernel.U8;

/**
 * Device kernels of the dynamic uint8 × int8 scheme ({@link DynamicQuantU8}, {@link GemmU8S8}), same layouts and
 * contracts; every kernel gives the reference's bits (min, max, one division, round-half-even, exact integer sums and
 * the graph's three-rounding epilogue; the translator turns float contraction off).
 */
public final class DynamicQuantKernels {
    /** Rows per work item of {@link #gemmU8S8}: each weight byte loaded once feeds four rows. */
    public static final int GEMM_ROWS = 4;

    private DynamicQuantKernels() {
    }

    /**
     * {@code Math.rint} (round half to even). {@code v − floor(v)} is exact for |v| &lt; 2²³ (and 0 beyond, where v is
     * an integer), so the tie test is exact.
     */
    @DeviceFunction
    static float roundHalfEven(float v) {
        float r = KMath.floor(v);
        float f = v - r;
        if (f > 0.5f) {
            r = r + 1.0f;
        } else if (f == 0.5f) {
            float half = r * 0.5f;
            if (KMath.floor(half) != half) {
                r = r + 1.0f;
            }
        }
        return r;
    }

    /**
     * Scale and zero point of sentence {@code groupId(0)} over its {@code lengths[b]} real rows: one work group of
     * {@code group} items per sentence, {@code Grid.of1(batch · group, group)}.
     */
    @Kernel
    public static void dynamicQuantParams(KernelContext ctx, F32 x, I32 lengths, F32 params, int seq, int cols,
            @Const int group) {
        float[] scratch = ctx.localFloats(2 * group);
        int b = ctx.groupId(0);
        int lid = ctx.localId(0);
        long from = (long) b * seq * cols;
        long end = from + (long) lengths.get(b) * cols;
        float lo = 0.0f;
        float hi = 0.0f;
        for (long i = from + lid; i < end; i += group) {
            float v = x.get(i);
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        scratch[lid] = lo;
        scratch[group + lid] = hi;
        ctx.barrier();
        if (lid == 0) {
            for (int j = 1; j < group; j++) {
                lo = Math.min(lo, scratch[j]);
                hi = Math.max(hi, scratch[group + j]);
            }
            float scale = 1.0f;
            if (hi != lo) {
                scale = (hi - lo) / 255.0f;
            }
            params.set(2L * b, scale);
            params.set(2L * b + 1, roundHalfEven(Math.max(0.0f, Math.min(255.0f, 0.0f - lo / scale))));
        }
    }

    /** {@code q[i]} for every element of the padded batch, {@code perSentence = seq · cols}; one item per element. */
    @Kernel
    public static void dynamicQuantize(KernelContext ctx, F32 x, F32 params, U8 q, int perSentence, int n) {
        int i = ctx.globalId(0);
        if (i < n) {
            int b = i / perSentence;
            float v = roundHalfEven(x.get(i) / params.get(2L * b)) + params.get(2L * b + 1);
            q.set(i, (int) Math.max(0.0f, Math.min(255.0f, v)));
        }
    }

    /**
     * {@code y = float(Σ (q − zp)·w) · (scale · wScale) + bias}: item {@code (c, block)} computes column {@code c} of
     * rows {@code 4·block … 4·block + 3}; grid {@code (⌈out⌉, ⌈rows / 4⌉)}. Neighbouring items read neighbouring
     * weight bytes of one {@code [in][out]} row (vectorised across items on a CPU device, coalesced on a GPU) while
     * every item of the group reads the same activation.
     */
    @Kernel
    public static void gemmU8S8(KernelContext ctx, U8 q, F32 params, I8 w, F32 wScale, F32 bias, F32 y, int rows,
            int seq, int in, int out) {
        int c = ctx.globalId(0);
        int r0 = ctx.globalId(1) * 4;
        if (c < out && r0 < rows) {
            int r1 = Math.min(r0 + 1, rows - 1);
            int r2 = Math.min(r0 + 2, rows - 1);
            int r3 = Math.min(r0 + 3, rows - 1);
            int z0 = (int) params.get(2L * (r0 / seq) + 1);
            int z1 = (int) params.get(2L * (r1 / seq) + 1);
            int z2 = (int) params.get(2L * (r2 / seq) + 1);
            int z3 = (int) params.get(2L * (r3 / seq) + 1);
            long q0 = (long) r0 * in;
            long q1 = (long) r1 * in;
            long q2 = (long) r2 * in;
            long q3 = (long) r3 * in;
            int a0 = 0;
            int a1 = 0;
            int a2 = 0;
            int a3 = 0;
            for (int k = 0; k < in; k++) {
                int wk = w.get((long) k * out + c);
                a0 += (q.get(q0 + k) - z0) * wk;
                a1 += (q.get(q1 + k) - z1) * wk;
                a2 += (q.get(q2 + k) - z2) * wk;
                a3 += (q.get(q3 + k) - z3) * wk;
            }
            float ws = wScale.get(c);
            float bc = bias.get(c);
            y.set((long) r0 * out + c, epilogue(a0, params.get(2L * (r0 / seq)), ws, bc));
            if (r0 + 1 < rows) {
                y.set((long) r1 * out + c, epilogue(a1, params.get(2L * (r1 / seq)), ws, bc));
            }
            if (r0 + 2 < rows) {
                y.set((long) r2 * out + c, epilogue(a2, params.get(2L * (r2 / seq)), ws, bc));
            }
            if (r0 + 3 < rows) {
                y.set((long) r3 * out + c, epilogue(a3, params.get(2L * (r3 / seq)), ws, bc));
            }
        }
    }

    /** {@link GemmU8S8#epilogue}: the scale product, then the product, then the bias, each rounded. */
    @DeviceFunction
    static float epilogue(int acc, float scale, float wScale, float bias) {
        float m = scale * wScale;
        float p = (float) acc * m;
        return p + bias;
    }
}
