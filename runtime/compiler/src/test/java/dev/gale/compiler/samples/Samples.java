package dev.gale.compiler.samples;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.I8;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;
import dev.gale.core.kernel.Q4;
import dev.gale.core.kernel.U8;

/** Sample kernels: golden, differential (emulator vs Java loop vs PoCL) and nvcc tests use them. */
public final class Samples {
    public static final int BINS = 16;

    private Samples() {
    }

    @Kernel
    public static void vadd(KernelContext ctx, F32 a, F32 b, F32 c, int n) {
        int i = ctx.globalId(0);
        if (i < n) {
            c.set(i, a.get(i) + b.get(i));
        }
    }

    /** One partial sum per work group: a tree reduction in local memory. */
    @Kernel
    public static void groupSum(KernelContext ctx, F32 in, F32 partial, int n, @Const int group) {
        float[] scratch = ctx.localFloats(group);
        int lid = ctx.localId(0);
        int gid = ctx.globalId(0);
        scratch[lid] = gid < n ? in.get(gid) : 0.0f;
        ctx.barrier();
        for (int stride = group / 2; stride > 0; stride >>= 1) {
            if (lid < stride) {
                scratch[lid] += scratch[lid + stride];
            }
            ctx.barrier();
        }
        if (lid == 0) {
            partial.set(ctx.groupId(0), scratch[0]);
        }
    }

    @DeviceFunction
    static float cube(float x) {
        return x * x * x;
    }

    @DeviceFunction
    static float gelu(float x) {
        return 0.5f * x * (1.0f + KMath.tanh(0.7978846f * (x + 0.044715f * cube(x))));
    }

    /** Each item handles {@code perItem} elements; the result is written as F16. */
    @Kernel
    public static void scaledGelu(KernelContext ctx, F32 x, F16 out, int n, @Const float scale, @Const int perItem) {
        int base = ctx.globalId(0) * perItem;
        for (int k = 0; k < perItem; k++) {
            int i = base + k;
            if (i >= n) {
                return;
            }
            out.set(i, gelu(x.get(i)) * scale);
        }
    }

    /**
     * A 16-bin histogram through local atomics, a float sum through local and global float atomics, the extremes
     * through atomic min/max and a count through a compare-and-swap loop.
     */
    @Kernel
    public static void histogram(KernelContext ctx, U8 data, I32 bins, F32 total, I32 stats, int n) {
        int[] counts = ctx.localInts(BINS);
        float[] sum = ctx.localFloats(1);
        int lid = ctx.localId(0);
        if (lid < BINS) {
            counts[lid] = 0;
        }
        if (lid == 0) {
            sum[0] = 0.0f;
        }
        ctx.barrier();
        int gid = ctx.globalId(0);
        if (gid < n) {
            int v = data.get(gid);
            ctx.atomicAdd(counts, v & (BINS - 1), 1);
            ctx.atomicAdd(sum, 0, v * 0.5f);
            ctx.atomicMax(stats, 0, v);
            ctx.atomicMin(stats, 1, v);
            int seen = stats.get(2);
            while (true) {
                int prev = ctx.atomicCas(stats, 2, seen, seen + 1);
                if (prev == seen) {
                    break;
                }
                seen = prev;
            }
        }
        ctx.barrier();
        if (lid < BINS) {
            ctx.atomicAdd(bins, lid, counts[lid]);
        }
        if (lid == 0) {
            ctx.atomicAdd(total, 0, sum[0]);
        }
    }

    public static final int SEMANTICS_OUT = 16;

    /** Where Java and C differ: shifts, unsigned shift, division, overflow, float to int casts, long arithmetic. */
    @Kernel
    @SuppressWarnings("lossy-conversions") // c += g is the point: an implicit saturating float-to-int cast
    public static void semantics(KernelContext ctx, I32 a, I32 b, F32 f, I32 out, int n) {
        int i = ctx.globalId(0);
        if (i >= n) {
            return;
        }
        int x = a.get(i);
        int y = b.get(i);
        float g = f.get(i);
        long o = (long) i * SEMANTICS_OUT;
        out.set(o, x << y);
        out.set(o + 1, x >> y);
        out.set(o + 2, x >>> y);
        out.set(o + 3, x / y);
        out.set(o + 4, x % y);
        out.set(o + 5, x * y + x);
        out.set(o + 6, (int) g);
        out.set(o + 7, (int) (g * 1.0e10f));
        long big = (long) x * 3000000000L - y;
        out.set(o + 8, (int) big);
        out.set(o + 9, (int) (big >>> 32));
        long sat = (long) g;
        out.set(o + 10, (int) (sat >> 33));
        out.set(o + 11, -x + Math.abs(y) + Math.min(x, y) - (x >>> 28));
        int c = x;
        c -= y;
        c *= 3;
        c <<= y;
        c >>>= 1;
        c += g;
        c++;
        out.set(o + 12, c);
        out.set(o + 13, Float.floatToRawIntBits(Math.max(g, -0.0f)) ^ (y < 0 ? ~x : x / 7));
        out.set(o + 14, (int) (big % -1L) + (int) (big / 1000L) + (x % -1));
        out.set(o + 15, (int) Float.intBitsToFloat(x & 0x3fffffff) + (int) (KMath.fma(g, 2.0f, 1.0f) * 8.0f));
    }

    /** Q4 bytes to floats: the low nibble is element 2b, the high nibble 2b+1; per-group scales and zero points. */
    @Kernel
    public static void dequantQ4(KernelContext ctx, Q4 q, F32 scales, I8 zeros, F32 out, int nBytes,
                                 @Const int groupSize) {
        int b = ctx.globalId(0);
        if (b >= nBytes) {
            return;
        }
        int v = q.get(b);
        long e = 2L * b;
        long g = e / groupSize;
        int z = zeros.get(g);
        float s = scales.get(g);
        out.set(e, ((v & 0xF) - z) * s);
        out.set(e + 1, ((v >>> 4) - z) * s);
    }

    /** A 2D tiled transpose through local memory (padded rows avoid bank conflicts on GPUs). */
    @Kernel
    public static void transpose(KernelContext ctx, F32 in, F32 out, int rows, int cols, @Const int tile) {
        float[] t = ctx.localFloats(tile * (tile + 1));
        int lx = ctx.localId(0);
        int ly = ctx.localId(1);
        int c = ctx.groupId(0) * tile + lx;
        int r = ctx.groupId(1) * tile + ly;
        if (r < rows && c < cols) {
            t[ly * (tile + 1) + lx] = in.get((long) r * cols + c);
        }
        ctx.barrier();
        int oc = ctx.groupId(1) * tile + lx;
        int or = ctx.groupId(0) * tile + ly;
        if (or < cols && oc < rows) {
            out.set((long) or * rows + oc, t[lx * (tile + 1) + ly]);
        }
    }

    /** Loops and branches of every kind, booleans, long counters, float remainder and the KMath functions. */
    @Kernel
    public static void controlFlow(KernelContext ctx, F32 x, F32 out, int n) {
        int i = ctx.globalId(0);
        if (i >= n) {
            return;
        }
        float v = x.get(i);
        boolean neg = v < 0.0f;
        int steps = 0;
        float acc = 0.0f;
        do {
            acc += v % 1.5f;
            v = v * 0.5f;
            steps++;
            if (steps > 20) {
                break;
            }
            if (KMath.abs(v) > 100.0f) {
                continue;
            }
            acc -= 0.25f;
        } while (KMath.abs(v) > 0.01f);
        long count = 0;
        for (long k = 0; k < steps; k++) {
            count += k;
        }
        int w = 0;
        while (w * w < steps) {
            w++;
        }
        float r;
        if (neg && steps > 3) {
            r = acc;
        } else if (Float.isNaN(acc)) {
            r = -1.0f;
        } else {
            r = Math.min(acc, (float) count);
        }
        out.set(i * 2L, r + KMath.floor(v) + KMath.ceil(v) + w);
        out.set(i * 2L + 1, KMath.exp(KMath.log(KMath.sqrt(KMath.abs(v) + 1.0f))) + KMath.sin(v) * KMath.cos(v)
                + KMath.pow(2.0f, v) + KMath.erf(v) + KMath.rsqrt(4.0f + v * v) + KMath.max(v, 0.0f)
                + KMath.tanh(v) + KMath.min(v, 1.0f));
    }

    /** Sums {@code v} over the work group through {@code scratch}; every item gets the total. */
    @DeviceFunction
    static float groupTotal(KernelContext ctx, float[] scratch, float v) {
        int lid = ctx.localId(0);
        scratch[lid] = v;
        ctx.barrier();
        for (int stride = ctx.localSize(0) / 2; stride > 0; stride >>= 1) {
            if (lid < stride) {
                scratch[lid] += scratch[lid + stride];
            }
            ctx.barrier();
        }
        float total = scratch[0];
        ctx.barrier();
        return total;
    }

    @DeviceFunction
    static void scaleRow(F32 x, F32 weight, F32 out, long rowStart, int col, float factor) {
        out.set(rowStart + col, x.get(rowStart + col) * factor * weight.get(col));
    }

    /** RMSNorm with one work group per row: a device function with barriers, local memory and views. */
    @Kernel
    public static void rmsNorm(KernelContext ctx, F32 x, F32 weight, F32 out, int cols, float eps,
                               @Const int group) {
        float[] scratch = ctx.localFloats(group);
        long rowStart = (long) ctx.groupId(0) * cols;
        float ss = 0.0f;
        for (int c = ctx.localId(0); c < cols; c += group) {
            float v = x.get(rowStart + c);
            ss += v * v;
        }
        float total = groupTotal(ctx, scratch, ss);
        float factor = KMath.rsqrt(total / cols + eps);
        for (int c = ctx.localId(0); c < cols; c += group) {
            scaleRow(x, weight, out, rowStart, c, factor);
        }
    }
}
