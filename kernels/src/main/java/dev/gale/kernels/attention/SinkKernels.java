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
 * Device kernels of the StreamingLLM cache ({@link SinkWindowKv}): the decode partial pass with RoPE fused into the
 * score loop, and the append of one token into its slot.
 *
 * <p><b>Decode partials</b> ({@link #sinkDecodeF32}, {@link #sinkDecodeF16}), the family's partial-kernel convention:
 * one work group of {@code group} items per {@link WorkList} worker, {@code Grid.of1(workers · group, group)}; each
 * segment {@code [tile, from, to, slot]} folds logical keys {@code [from, to)} of tile {@code (seq, kvHead)} into
 * {@code g} states written to {@code partials} at float {@code (slot·g + r)·(d+2)}, layout {@code [m, l, Õ]}. Per
 * sequence, {@code lengths[seq]} is {@code n} (the query sits at position {@code n − 1}) and {@code ringHeads[seq]} the
 * ring offset of the oldest window token ({@link SinkWindow#head()}): logical {@code i} is slot {@code i} below
 * {@code sinks}, else {@code sinks + (head + i − sinks) mod window}. Keys are cached un-rotated; each item rotates
 * the key it scores with {@code cos/sin[p·d/2 + i]} (pair {@code i} at position {@code p}, from a
 * {@code RopeTable}), so the logical cache is never materialised and no trigonometry runs on the device.
 *
 * <p>Per segment: the group rotates the {@code g} query rows at {@code n − 1} (times {@code scale}) into local
 * memory; then blocks of {@code group} keys: (1) item {@code l} scores key {@code from + b + l} against the {@code g}
 * rows, rotating each key pair once; (2) item {@code r < g} folds row {@code r}'s block into its state (new maximum,
 * rescale factor, weights); (3) the items share the {@code g·d} accumulators, each adding its elements' weighted
 * values over the block. q is {@code [seq][kvHeads·g][d]} F32; caches are {@code [seq][kvHead][capacity][d]}.
 * Requires {@code group ≥ g} (items {@code r < g} own the rows in phase 2) and the cos/sin tables: a cache without
 * RoPE ({@code SinkWindowKv} with no table) has no device kernel here. Local memory: {@code (2·g·d + g·group + 3·g)}
 * floats and {@code group} ints.
 *
 * <p><b>Append</b> ({@link #sinkAppendF32}, {@link #sinkAppendF16}): token {@code token} of {@code kNew/vNew}
 * ({@code [token][seq][kvHead][d]}), one item per element of {@code [seq][kvHead][d]},
 * {@code Grid.of1(roundUp(seqs·kvHeads·d, local), local)}; row {@code seq} goes to slot
 * {@code slots[token·seqs + seq]}, which the host's {@link SinkWindow#append} chose (the addressing state lives on the
 * host; the device only moves data). A prompt appends its tokens with one launch each, in order, so a window that
 * wraps within the prompt keeps the latest token in each slot.
 */
public final class SinkKernels {
    private SinkKernels() {
    }

    /** Rotates the tile's {@code g} query rows at {@code pos} (times {@code scale}) into {@code qr}, then resets. */
    @DeviceFunction
    static void stageQuery(KernelContext ctx, F32 q, F32 cos, F32 sin, float[] qr, float[] acc, float[] rowM,
            float[] rowL, long q0, int pos, float scale, int halfSplit, int g, int d, int group) {
        int lid = ctx.localId(0);
        int half = d / 2;
        for (int t = lid; t < g * half; t += group) {
            int r = t / half;
            int i = t % half;
            int ia = halfSplit == 1 ? i : 2 * i;
            int ib = halfSplit == 1 ? i + half : 2 * i + 1;
            long k = (long) pos * half + i;
            float c = cos.get(k);
            float s = sin.get(k);
            float a = q.get(q0 + (long) r * d + ia) * scale;
            float b = q.get(q0 + (long) r * d + ib) * scale;
            qr[r * d + ia] = a * c - b * s;
            qr[r * d + ib] = a * s + b * c;
        }
        for (int t = lid; t < g * d; t += group) {
            acc[t] = 0.0f;
        }
        if (lid < g) {
            rowM[lid] = Float.NEGATIVE_INFINITY;
            rowL[lid] = 0.0f;
        }
        ctx.barrier();
    }

    /** The slot of logical index {@code i} (as {@link SinkWindow}). */
    @DeviceFunction
    static int slotOf(int i, int sinks, int window, int head) {
        if (i < sinks) {
            return i;
        }
        return sinks + (head + i - sinks) % window;
    }

    /**
     * Phase 2 of a block: item {@code r < g} turns row {@code r}'s {@code cnt} scores into weights against the new
     * maximum and rescales its {@code l}; {@code rowC[r]} receives the factor the accumulators must take.
     */
    @DeviceFunction
    static void foldBlock(KernelContext ctx, float[] sc, float[] rowM, float[] rowL, float[] rowC, int cnt, int g,
            int group) {
        int r = ctx.localId(0);
        if (r < g) {
            float mx = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < cnt; j++) {
                mx = KMath.max(mx, sc[r * group + j]);
            }
            float m = rowM[r];
            float mNew = KMath.max(m, mx);
            float c = 1.0f;
            float l = 0.0f;
            if (mNew == Float.NEGATIVE_INFINITY) {
                // only −∞ scores so far: weights 0, state unchanged (never exp(−∞ − (−∞)))
                for (int j = 0; j < cnt; j++) {
                    sc[r * group + j] = 0.0f;
                }
            } else {
                c = m == Float.NEGATIVE_INFINITY ? 0.0f : KMath.exp(m - mNew);
                for (int j = 0; j < cnt; j++) {
                    float s = sc[r * group + j];
                    float p = s == Float.NEGATIVE_INFINITY ? 0.0f : KMath.exp(s - mNew);
                    sc[r * group + j] = p;
                    l += p;
                }
                rowM[r] = mNew;
            }
            rowL[r] = rowL[r] * c + l;
            rowC[r] = c;
        }
        ctx.barrier();
    }

    /** Writes the segment's {@code g} states to {@code partials} at float {@code slot·g·(d+2)}. */
    @DeviceFunction
    static void writeStates(KernelContext ctx, F32 partials, float[] acc, float[] rowM, float[] rowL, int slot, int g,
            int d, int group) {
        int lid = ctx.localId(0);
        long base = (long) slot * g * (d + 2);
        for (int t = lid; t < g * d; t += group) {
            int r = t / d;
            partials.set(base + (long) r * (d + 2) + 2 + t % d, acc[t]);
        }
        if (lid < g) {
            partials.set(base + (long) lid * (d + 2), rowM[lid]);
            partials.set(base + (long) lid * (d + 2) + 1, rowL[lid]);
        }
        ctx.barrier();
    }

    @Kernel
    public static void sinkDecodeF32(KernelContext ctx, I32 segments, I32 workerStart, F32 q, F32 k, F32 v, F32 cos,
            F32 sin, I32 lengths, I32 ringHeads, F32 partials, int kvHeads, int sinks, int window, float scale,
            @Const int g, @Const int d, @Const int halfSplit, @Const int group) {
        float[] qr = ctx.localFloats(g * d);
        float[] acc = ctx.localFloats(g * d);
        float[] sc = ctx.localFloats(g * group);
        int[] slots = ctx.localInts(group);
        float[] rowM = ctx.localFloats(g);
        float[] rowL = ctx.localFloats(g);
        float[] rowC = ctx.localFloats(g);
        int lid = ctx.localId(0);
        int half = d / 2;
        int w = ctx.groupId(0);
        for (int sg = workerStart.get(w); sg < workerStart.get(w + 1); sg++) {
            int tile = segments.get(4L * sg);
            int from = segments.get(4L * sg + 1);
            int to = segments.get(4L * sg + 2);
            int seq = tile / kvHeads;
            int n = lengths.get(seq);
            int head = ringHeads.get(seq);
            long tileBase = (long) tile * (sinks + window);
            stageQuery(ctx, q, cos, sin, qr, acc, rowM, rowL, (long) tile * g * d, n - 1, scale, halfSplit, g, d,
                    group);
            for (int b0 = from; b0 < to; b0 += group) {
                int cnt = KMath.min(group, to - b0);
                int j = b0 + lid;
                for (int r = 0; r < g; r++) {
                    sc[r * group + lid] = Float.NEGATIVE_INFINITY;
                }
                if (j < to) {
                    int slot = slotOf(j, sinks, window, head);
                    slots[lid] = slot;
                    long kb = (tileBase + slot) * d;
                    for (int r = 0; r < g; r++) {
                        sc[r * group + lid] = 0.0f;
                    }
                    for (int i = 0; i < half; i++) {
                        int ia = halfSplit == 1 ? i : 2 * i;
                        int ib = halfSplit == 1 ? i + half : 2 * i + 1;
                        long t = (long) j * half + i;
                        float c = cos.get(t);
                        float s = sin.get(t);
                        float a = k.get(kb + ia);
                        float b = k.get(kb + ib);
                        float ra = a * c - b * s;
                        float rb = a * s + b * c;
                        for (int r = 0; r < g; r++) {
                            sc[r * group + lid] += qr[r * d + ia] * ra + qr[r * d + ib] * rb;
                        }
                    }
                }
                ctx.barrier();
                foldBlock(ctx, sc, rowM, rowL, rowC, cnt, g, group);
                for (int t = lid; t < g * d; t += group) {
                    int r = t / d;
                    int e = t % d;
                    float o = acc[t] * rowC[r];
                    for (int jj = 0; jj < cnt; jj++) {
                        o += sc[r * group + jj] * v.get((tileBase + slots[jj]) * d + e);
                    }
                    acc[t] = o;
                }
                ctx.barrier();
            }
            writeStates(ctx, partials, acc, rowM, rowL, segments.get(4L * sg + 3), g, d, group);
        }
    }

    /** {@link #sinkDecodeF32} over an F16 cache (each element widened exactly; F32 arithmetic). */
    @Kernel
    public static void sinkDecodeF16(KernelContext ctx, I32 segments, I32 workerStart, F32 q, F16 k, F16 v, F32 cos,
            F32 sin, I32 lengths, I32 ringHeads, F32 partials, int kvHeads, int sinks, int window, float scale,
            @Const int g, @Const int d, @Const int halfSplit, @Const int group) {
        float[] qr = ctx.localFloats(g * d);
        float[] acc = ctx.localFloats(g * d);
        float[] sc = ctx.localFloats(g * group);
        int[] slots = ctx.localInts(group);
        float[] rowM = ctx.localFloats(g);
        float[] rowL = ctx.localFloats(g);
        float[] rowC = ctx.localFloats(g);
        int lid = ctx.localId(0);
        int half = d / 2;
        int w = ctx.groupId(0);
        for (int sg = workerStart.get(w); sg < workerStart.get(w + 1); sg++) {
            int tile = segments.get(4L * sg);
            int from = segments.get(4L * sg + 1);
            int to = segments.get(4L * sg + 2);
            int seq = tile / kvHeads;
            int n = lengths.get(seq);
            int head = ringHeads.get(seq);
            long tileBase = (long) tile * (sinks + window);
            stageQuery(ctx, q, cos, sin, qr, acc, rowM, rowL, (long) tile * g * d, n - 1, scale, halfSplit, g, d,
                    group);
            for (int b0 = from; b0 < to; b0 += group) {
                int cnt = KMath.min(group, to - b0);
                int j = b0 + lid;
                for (int r = 0; r < g; r++) {
                    sc[r * group + lid] = Float.NEGATIVE_INFINITY;
                }
                if (j < to) {
                    int slot = slotOf(j, sinks, window, head);
                    slots[lid] = slot;
                    long kb = (tileBase + slot) * d;
                    for (int r = 0; r < g; r++) {
                        sc[r * group + lid] = 0.0f;
                    }
                    for (int i = 0; i < half; i++) {
                        int ia = halfSplit == 1 ? i : 2 * i;
                        int ib = halfSplit == 1 ? i + half : 2 * i + 1;
                        long t = (long) j * half + i;
                        float c = cos.get(t);
                        float s = sin.get(t);
                        float a = k.get(kb + ia);
                        float b = k.get(kb + ib);
                        float ra = a * c - b * s;
                        float rb = a * s + b * c;
                        for (int r = 0; r < g; r++) {
                            sc[r * group + lid] += qr[r * d + ia] * ra + qr[r * d + ib] * rb;
                        }
                    }
                }
                ctx.barrier();
                foldBlock(ctx, sc, rowM, rowL, rowC, cnt, g, group);
                for (int t = lid; t < g * d; t += group) {
                    int r = t / d;
                    int e = t % d;
                    float o = acc[t] * rowC[r];
                    for (int jj = 0; jj < cnt; jj++) {
                        o += sc[r * group + jj] * v.get((tileBase + slots[jj]) * d + e);
                    }
                    acc[t] = o;
                }
                ctx.barrier();
            }
            writeStates(ctx, partials, acc, rowM, rowL, segments.get(4L * sg + 3), g, d, group);
        }
    }

    @Kernel
    public static void sinkAppendF32(KernelContext ctx, F32 kNew, F32 vNew, F32 k, F32 v, I32 slots, int token,
            int rows, int kvHeads, int capacity, int d) {
        int id = ctx.globalId(0);
        if (id >= rows * d) {
            return;
        }
        int row = id / d;
        long src = (long) token * rows * d + id;
        long dst = ((long) row * capacity + slots.get(token * (rows / kvHeads) + row / kvHeads)) * d + id % d;
        k.set(dst, kNew.get(src));
        v.set(dst, vNew.get(src));
    }

    @Kernel
    public static void sinkAppendF16(KernelContext ctx, F32 kNew, F32 vNew, F16 k, F16 v, I32 slots, int token,
            int rows, int kvHeads, int capacity, int d) {
        int id = ctx.globalId(0);
        if (id >= rows * d) {
            return;
        }
        int row = id / d;
        long src = (long) token * rows * d + id;
        long dst = ((long) row * capacity + slots.get(token * (rows / kvHeads) + row / kvHeads)) * d + id % d;
        k.set(dst, kNew.get(src));
        v.set(dst, vNew.get(src));
    }
}
