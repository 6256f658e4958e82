package dev.gale.kernels.probe;

import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * The device-side roofline probes: the same three measurements as the bench's host probes (a read-only stream, a
 * STREAM triad, independent FMA chains), written once in the SIMT subset so every backend with a kernel runner
 * measures its own ceiling with the kernels it compiles. A discrete GPU's memory bandwidth is not the host's, so its
 * kernels are compared with these.
 *
 * <p>Geometry: any 1-D grid; the bench launches a few resident groups per compute unit. The streaming kernels walk
 * their {@code n} elements grid-stride ({@code i = globalId, globalId + globalSize, …}), so at every step consecutive
 * items touch consecutive floats: coalesced on a GPU, contiguous per work group for PoCL's loop vectoriser. Indices
 * are {@code long}, so a stream may pass 2<sup>31</sup> elements.
 *
 * <p>Every kernel writes a value derived from all the work it did ({@code partial}, {@code out}), so no compiler can
 * drop the loads or the FMAs.
 */
public final class DeviceProbeKernels {
    /** FMA chains per item in {@link #fmaChains}: independent, so a core with several FMA pipes keeps them busy. */
    public static final int FMA_CHAINS = 8;
    /** Multiplier and addend of the FMA chains: {@code a·0.5 + 0.5} converges to 1, never to Inf, NaN or a denormal. */
    private static final float FMA_MUL = 0.5f;
    private static final float FMA_ADD = 0.5f;

    private DeviceProbeKernels() {
    }

    /**
     * {@code partial[globalId] =} the sum of the item's grid-stride elements of {@code x[0, n)}, read with four
     * independent accumulators (four loads in flight per item, whatever the compiler does with the loop). The sum of
     * {@code partial} is the sum of {@code x}, exactly where the partial sums stay below 2<sup>24</sup>.
     */
    @Kernel
    public static void readSum(KernelContext ctx, F32 x, F32 partial, long n) {
        long stride = ctx.globalSize(0);
        long i = ctx.globalId(0);
        float a0 = 0.0f;
        float a1 = 0.0f;
        float a2 = 0.0f;
        float a3 = 0.0f;
        for (; i + 3 * stride < n; i += 4 * stride) {
            a0 += x.get(i);
            a1 += x.get(i + stride);
            a2 += x.get(i + 2 * stride);
            a3 += x.get(i + 3 * stride);
        }
        for (; i < n; i += stride) {
            a0 += x.get(i);
        }
        partial.set(ctx.globalId(0), (a0 + a1) + (a2 + a3));
    }

    /** STREAM triad {@code a[i] = b[i] + s·c[i]} over {@code [0, n)}, grid-stride: two reads and a write per element. */
    @Kernel
    public static void triad(KernelContext ctx, F32 a, F32 b, F32 c, float s, long n) {
        long stride = ctx.globalSize(0);
        for (long i = ctx.globalId(0); i < n; i += stride) {
            a.set(i, b.get(i) + s * c.get(i));
        }
    }

    /**
     * {@value #FMA_CHAINS} independent chains {@code a = a·0.5 + 0.5} of {@code iterations} FMAs each, started from the
     * item's id; {@code out[globalId]} is their sum. {@code 2·FMA_CHAINS·iterations} flops per item; no memory traffic
     * in the loop.
     */
    @Kernel
    public static void fmaChains(KernelContext ctx, F32 out, int iterations) {
        int gid = ctx.globalId(0);
        float seed = (float) (gid & 1023) * (1.0f / 1024.0f);
        float a0 = seed;
        float a1 = seed + 1.0f;
        float a2 = seed + 2.0f;
        float a3 = seed + 3.0f;
        float a4 = seed + 4.0f;
        float a5 = seed + 5.0f;
        float a6 = seed + 6.0f;
        float a7 = seed + 7.0f;
        for (int it = 0; it < iterations; it++) {
            a0 = KMath.fma(a0, FMA_MUL, FMA_ADD);
            a1 = KMath.fma(a1, FMA_MUL, FMA_ADD);
            a2 = KMath.fma(a2, FMA_MUL, FMA_ADD);
            a3 = KMath.fma(a3, FMA_MUL, FMA_ADD);
            a4 = KMath.fma(a4, FMA_MUL, FMA_ADD);
            a5 = KMath.fma(a5, FMA_MUL, FMA_ADD);
            a6 = KMath.fma(a6, FMA_MUL, FMA_ADD);
            a7 = KMath.fma(a7, FMA_MUL, FMA_ADD);
        }
        out.set(gid, ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)));
    }
}
