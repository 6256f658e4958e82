package dev.gale.kernels.attention;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Decode attention on devices, in Gale's SIMT subset, as the two phases of {@link DecodeAttention}: a partial kernel
 * per cache precision (one work group per {@link WorkList} worker, walking its segments) and one merge kernel every
 * precision shares.
 *
 * <p>Partial kernels follow the family's device convention: arguments begin {@code (ctx, segments, workerStart, q)};
 * {@code q} is {@code [seq][Hq][d]} F32 (tile {@code t}'s row {@code r} at {@code (t·g + r)·d}); the state of row
 * {@code r} of slot {@code s} goes to {@code partials} at {@code (s·g + r)·(d+2)} as {@code [m, l, Õ]}, with
 * {@code l = 0} for a range that saw no key. The dense caches are {@code [seq][Hkv][capacity][d]}, so tile {@code t}'s
 * keys start at {@code t·capacity·d}.
 *
 * <p>Per stage of {@code group} tokens (the work-group size): item {@code j} computes the {@code g} scores of token
 * {@code j} (one item per row of work, which is what PoCL vectorises across items); items {@code r < g} do the
 * online-softmax bookkeeping of row {@code r} in local memory; then items split the {@code g·d} accumulator elements,
 * each summing {@code p·v} over the stage's tokens. The accumulators live in local memory for the whole segment.
 */
public final class DecodeKernels {
    private DecodeKernels() {
    }

    /** Resets the accumulators of one segment: {@code m = −∞, l = 0, Õ = 0}. */
    @DeviceFunction
    static void begin(KernelContext ctx, float[] acc, float[] rows, int g, int d, int group) {
        int lid = ctx.localId(0);
        for (int i = lid; i < g * d; i += group) {
            acc[i] = 0.0f;
        }
        if (lid < g) {
            rows[lid] = Float.NEGATIVE_INFINITY;
            rows[g + lid] = 0.0f;
            rows[2 * g + lid] = 0.0f;
        }
        ctx.barrier();
    }

    /**
     * Row {@code r}'s online-softmax step over the stage's {@code n} scores in {@code s[r·group …]} (item {@code r}
     * only): scores become {@code p = exp(s − m')}, {@code l} is rescaled and summed, and the accumulator's rescale
     * factor {@code exp(m − m')} goes to {@code rows[2g + r]}.
     */
    @DeviceFunction
    static void softmaxStep(KernelContext ctx, float[] s, float[] rows, int g, int n, int group) {
        int r = ctx.localId(0);
        if (r < g) {
            float m = rows[r];
            float mx = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                mx = KMath.max(mx, s[r * group + j]);
            }
            float mNew = KMath.max(m, mx);
            float c = 1.0f;
            if (mNew == Float.NEGATIVE_INFINITY) {
                for (int j = 0; j < n; j++) {
                    s[r * group + j] = 0.0f;
                }
            } else {
                float sum = 0.0f;
                for (int j = 0; j < n; j++) {
                    float p = KMath.exp(s[r * group + j] - mNew);
                    s[r * group + j] = p;
                    sum += p;
                }
                c = m == Float.NEGATIVE_INFINITY ? 0.0f : KMath.exp(m - mNew);
                rows[r] = mNew;
                rows[g + r] = c * rows[g + r] + sum;
            }
            rows[2 * g + r] = c;
        }
        ctx.barrier();
    }

    /** Stores the segment's states into its slot. */
    @DeviceFunction
    static void end(KernelContext ctx, float[] acc, float[] rows, F32 partials, int slot, int g, int d, int group) {
        int lid = ctx.localId(0);
        for (int i = lid; i < g * d; i += group) {
            int r = i / d;
            partials.set((long) (slot * g + r) * (d + 2) + 2 + (i - r * d), acc[i]);
        }
        if (lid < g) {
            long b = (long) (slot * g + lid) * (d + 2);
            partials.set(b, rows[lid]);
            partials.set(b + 1, rows[g + lid]);
        }
        ctx.barrier();
    }

    /** The partial pass over an F32 cache {@code [seq][Hkv][capacity][d]}. */
    @Kernel
    public static void partialF32(KernelContext ctx, I32 segments, I32 workerStart, F32 q, F32 k, F32 v,
            F32 partials, int kvHeads, int capacity, float scale, @Const int g, @Const int d, @Const int group) {
        float[] s = ctx.localFloats(g * group);
        float[] acc = ctx.localFloats(g * d);
        float[] rows = ctx.localFloats(3 * g);
        int lid = ctx.localId(0);
        int w = ctx.groupId(0);
        for (int seg = workerStart.get(w); seg < workerStart.get(w + 1); seg++) {
            int tile = segments.get(4L * seg);
            int from = segments.get(4L * seg + 1);
            int to = segments.get(4L * seg + 2);
            long base = (long) tile * capacity * d;
            begin(ctx, acc, rows, g, d, group);
            for (int t0 = from; t0 < to; t0 += group) {
                int n = Math.min(group, to - t0);
                if (lid < n) {
                    long kb = base + (long) (t0 + lid) * d;
                    for (int r = 0; r < g; r++) {
                        long qb = (long) (tile * g + r) * d;
                        float dot = 0.0f;
                        for (int e = 0; e < d; e++) {
                            dot += q.get(qb + e) * k.get(kb + e);
                        }
                        s[r * group + lid] = dot * scale;
                    }
                }
                ctx.barrier();
                softmaxStep(ctx, s, rows, g, n, group);
                for (int i = lid; i < g * d; i += group) {
                    int r = i / d;
                    long vb = base + (long) t0 * d + (i - r * d);
                    float a = acc[i] * rows[2 * g + r];
                    for (int j = 0; j < n; j++) {
                        a += s[r * group + j] * v.get(vb + (long) j * d);
                    }
                    acc[i] = a;
                }
                ctx.barrier();
            }
            end(ctx, acc, rows, partials, segments.get(4L * seg + 3), g, d, group);
        }
    }

    /** The partial pass over an F16 cache {@code [seq][Hkv][capacity][d]} (halves widened on load). */
    @Kernel
    public static void partialF16(KernelContext ctx, I32 segments, I32 workerStart, F32 q, F16 k, F16 v,
            F32 partials, int kvHeads, int capacity, float scale, @Const int g, @Const int d, @Const int group) {
        float[] s = ctx.localFloats(g * group);
        float[] acc = ctx.localFloats(g * d);
        float[] rows = ctx.localFloats(3 * g);
        int lid = ctx.localId(0);
        int w = ctx.groupId(0);
        for (int seg = workerStart.get(w); seg < workerStart.get(w + 1); seg++) {
            int tile = segments.get(4L * seg);
            int from = segments.get(4L * seg + 1);
            int to = segments.get(4L * seg + 2);
            long base = (long) tile * capacity * d;
            begin(ctx, acc, rows, g, d, group);
            for (int t0 = from; t0 < to; t0 += group) {
                int n = Math.min(group, to - t0);
                if (lid < n) {
                    long kb = base + (long) (t0 + lid) * d;
                    for (int r = 0; r < g; r++) {
                        long qb = (long) (tile * g + r) * d;
                        float dot = 0.0f;
                        for (int e = 0; e < d; e++) {
                            dot += q.get(qb + e) * k.get(kb + e);
                        }
                        s[r * group + lid] = dot * scale;
                    }
                }
                ctx.barrier();
                softmaxStep(ctx, s, rows, g, n, group);
                for (int i = lid; i < g * d; i += group) {
                    int r = i / d;
                    long vb = base + (long) t0 * d + (i - r * d);
                    float a = acc[i] * rows[2 * g + r];
                    for (int j = 0; j < n; j++) {
                        a += s[r * group + j] * v.get(vb + (long) j * d);
                    }
                    acc[i] = a;
                }
                ctx.barrier();
            }
            end(ctx, acc, rows, partials, segments.get(4L * seg + 3), g, d, group);
        }
    }

    /**
     * The merge pass, for partials of any cache precision: one item per output element {@code (tile, row, e)} of
     * {@code out [seq][Hq][d]} (index {@code (tile·g + row)·d + e}, since query head {@code kvHead·g + row}). It reads
     * its tile's slots in order: {@code M = max m} over slots with {@code l > 0}, then
     * {@code out = Σ e^{m−M}·Õ_e / Σ e^{m−M}·l}; zeros when every slot saw no key (or the tile has no slot).
     */
    @Kernel
    public static void merge(KernelContext ctx, I32 tileSlots, F32 partials, F32 out, int tiles, @Const int g,
            @Const int d) {
        int i = ctx.globalId(0);
        if (i < tiles * g * d) {
            int t = i / (g * d);
            int r = (i / d) % g;
            int e = i % d;
            int a = tileSlots.get(t);
            int b = tileSlots.get(t + 1);
            float m = Float.NEGATIVE_INFINITY;
            for (int s = a; s < b; s++) {
                long st = (long) (s * g + r) * (d + 2);
                if (partials.get(st + 1) > 0.0f) {
                    m = KMath.max(m, partials.get(st));
                }
            }
            float l = 0.0f;
            float o = 0.0f;
            if (m != Float.NEGATIVE_INFINITY) {
                for (int s = a; s < b; s++) {
                    long st = (long) (s * g + r) * (d + 2);
                    float ls = partials.get(st + 1);
                    if (ls > 0.0f) {
                        float f = KMath.exp(partials.get(st) - m);
                        l += f * ls;
                        o += f * partials.get(st + 2 + e);
                    }
                }
            }
            out.set(i, l > 0.0f ? o / l : 0.0f);
        }
    }
}
