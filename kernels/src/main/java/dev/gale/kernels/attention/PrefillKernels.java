package dev.gale.kernels.attention;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;
import dev.gale.core.kernel.U8;

/**
 * FlashAttention-2 prefill as a device kernel in Gale's SIMT subset, the portable baseline (papers.md §1, "one
 * work-item per row"): contract as {@link FlashPrefill}, token-major F32 {@code q, out [totalQ][Hq][d]},
 * {@code k, v [totalK][Hkv][d]}, the batch table {@code seqs} ({@link PrefillBatch}: {@code [qStart, qLen, kStart,
 * kLen]} per sequence) and a U8 key-padding mask over the key tokens ({@code useMask = 0}: ignored, any buffer).
 *
 * <p>Geometry: work group = (query block, query head, sequence), {@code br} items, one query row each:
 * {@code grid = (⌈maxQLen / br⌉·br, Hq, sequences)}, local {@code (br, 1, 1)}. Groups past their sequence's
 * queries return at once. The group walks the keys its rows can see (blocks above the causal diagonal are never
 * visited) in blocks of {@code bc}: all items stage the K and V block in local memory, a barrier, then each item
 * scores its row against the block, runs the online-softmax step and adds {@code P·V} into its row of {@code Õ}
 * (kept in local memory: the subset has no private arrays), a barrier before the next block. Deferred
 * normalisation: {@code Õ/l} once at the end. Masked scores are −∞ and the exponent shift is
 * {@code max(m, −FLT_MAX)}, so a row that sees no key gives zeros, never NaN. Each block's {@code P·V} and row sum
 * start from zero (blocked summation), the error bound of {@link FlashPrefill#errorBound} with {@code bc ≤ 64}.
 *
 * <p>{@link #cachedPrefillF32} / {@link #cachedPrefillF16} run the same steps for a prompt continuing one sequence's
 * head-major cache (a reused prefix): they differ from {@link #flashPrefill} only in where a block of keys is staged
 * from, so the per-row work is shared as device functions ({@link #beginRow}, {@link #foldBlock}, {@link #endRow}).
 * The key-padding mask is staged per block like the keys, as 1/0 in local memory.
 */
public final class PrefillKernels {
    private PrefillKernels() {
    }

    /** First key (inclusive) query {@code i} of {@code nq} sees among {@code nk}: {@link AttentionSpec#firstKey}. */
    @DeviceFunction
    static int firstKey(int i, int nq, int nk, int causal, int window) {
        if (window == 0) {
            return 0;
        }
        return Math.max(0, lastKey(i, nq, nk, causal) - window + 1);
    }

    /** Last key (inclusive) query {@code i} sees, −1 if none: {@link AttentionSpec#lastKey}. */
    @DeviceFunction
    static int lastKey(int i, int nq, int nk, int causal) {
        if (causal == 0) {
            return nk - 1;
        }
        return Math.min(nk - 1, i + nk - nq);
    }

    @Kernel
    public static void flashPrefill(KernelContext ctx, F32 q, F32 k, F32 v, I32 seqs, U8 mask, F32 out, int heads,
            int kvHeads, int causal, int window, float scale, int useMask, @Const int d, @Const int br,
            @Const int bc) {
        float[] ks = ctx.localFloats(bc * d);
        float[] vs = ctx.localFloats(bc * d);
        float[] qs = ctx.localFloats(br * d);
        float[] os = ctx.localFloats(br * d);
        float[] ps = ctx.localFloats(br * bc);
        float[] ml = ctx.localFloats(2 * br);
        float[] km = ctx.localFloats(bc);
        int lid = ctx.localId(0);
        int h = ctx.groupId(1);
        int s = ctx.groupId(2);
        int qStart = seqs.get(4L * s);
        int nq = seqs.get(4L * s + 1);
        int kStart = seqs.get(4L * s + 2);
        int nk = seqs.get(4L * s + 3);
        int i0 = ctx.groupId(0) * br;
        if (i0 >= nq) {
            return; // the whole group: no barrier is skipped by some items only
        }
        int kvHead = h / (heads / kvHeads);
        int i = i0 + lid;
        int row = i < nq ? 1 : 0;
        int first = row == 1 ? firstKey(i, nq, nk, causal, window) : 1;
        int last = row == 1 ? lastKey(i, nq, nk, causal) : 0; // padding items see nothing
        int lo = firstKey(i0, nq, nk, causal, window);
        int hi = lastKey(Math.min(nq, i0 + br) - 1, nq, nk, causal);
        long qAt = ((long) (qStart + i) * heads + h) * d;
        beginRow(q, qAt, row, scale, qs, os, ml, lid, d);
        for (int kb = lo; kb <= hi; kb += bc) {
            int nc = Math.min(bc, hi + 1 - kb);
            for (int x = lid; x < nc * d; x += br) {
                int c = x / d;
                long at = ((long) (kStart + kb + c) * kvHeads + kvHead) * d + (x - c * d);
                ks[x] = k.get(at);
                vs[x] = v.get(at);
            }
            for (int c = lid; c < nc; c += br) {
                km[c] = useMask == 0 || mask.get(kStart + kb + c) != 0 ? 1.0f : 0.0f;
            }
            ctx.barrier();
            foldBlock(ks, vs, km, qs, os, ps, ml, kb, nc, first, last, lid, d, bc);
            ctx.barrier();
        }
        endRow(out, qAt, row, os, ml, lid, d);
    }

    /**
     * Causal attention of {@code nq} queries (a prompt chunk, token-major {@code q, out [nq][Hq][d]}) against the
     * first {@code nk} tokens of one sequence's F32 cache {@code [Hkv][capacity][d]}, which already holds the chunk's
     * own keys: query {@code i} sees keys {@code 0 … nk − nq + i} (bottom-right aligned, optional sliding window).
     * Geometry as {@link #flashPrefill} with one sequence: {@code grid = (⌈nq / br⌉·br, Hq, 1)}.
     */
    @Kernel
    public static void cachedPrefillF32(KernelContext ctx, F32 q, F32 k, F32 v, F32 out, int heads, int kvHeads,
            int capacity, int nq, int nk, int window, float scale, @Const int d, @Const int br, @Const int bc) {
        float[] ks = ctx.localFloats(bc * d);
        float[] vs = ctx.localFloats(bc * d);
        float[] qs = ctx.localFloats(br * d);
        float[] os = ctx.localFloats(br * d);
        float[] ps = ctx.localFloats(br * bc);
        float[] ml = ctx.localFloats(2 * br);
        float[] km = ctx.localFloats(bc);
        int lid = ctx.localId(0);
        int h = ctx.groupId(1);
        int i0 = ctx.groupId(0) * br;
        if (i0 >= nq) {
            return;
        }
        int i = i0 + lid;
        int row = i < nq ? 1 : 0;
        int first = row == 1 ? firstKey(i, nq, nk, 1, window) : 1;
        int last = row == 1 ? lastKey(i, nq, nk, 1) : 0;
        int lo = firstKey(i0, nq, nk, 1, window);
        int hi = lastKey(Math.min(nq, i0 + br) - 1, nq, nk, 1);
        long qAt = ((long) i * heads + h) * d;
        long head = (long) (h / (heads / kvHeads)) * capacity * d;
        beginRow(q, qAt, row, scale, qs, os, ml, lid, d);
        for (int kb = lo; kb <= hi; kb += bc) {
            int nc = Math.min(bc, hi + 1 - kb);
            for (int x = lid; x < nc * d; x += br) {
                long at = head + (long) kb * d + x; // the block's tokens are contiguous in a head-major cache
                ks[x] = k.get(at);
                vs[x] = v.get(at);
            }
            for (int c = lid; c < nc; c += br) {
                km[c] = 1.0f;
            }
            ctx.barrier();
            foldBlock(ks, vs, km, qs, os, ps, ml, kb, nc, first, last, lid, d, bc);
            ctx.barrier();
        }
        endRow(out, qAt, row, os, ml, lid, d);
    }

    /** {@link #cachedPrefillF32} over an F16 cache (halves widened as they are staged). */
    @Kernel
    public static void cachedPrefillF16(KernelContext ctx, F32 q, F16 k, F16 v, F32 out, int heads, int kvHeads,
            int capacity, int nq, int nk, int window, float scale, @Const int d, @Const int br, @Const int bc) {
        float[] ks = ctx.localFloats(bc * d);
        float[] vs = ctx.localFloats(bc * d);
        float[] qs = ctx.localFloats(br * d);
        float[] os = ctx.localFloats(br * d);
        float[] ps = ctx.localFloats(br * bc);
        float[] ml = ctx.localFloats(2 * br);
        float[] km = ctx.localFloats(bc);
        int lid = ctx.localId(0);
        int h = ctx.groupId(1);
        int i0 = ctx.groupId(0) * br;
        if (i0 >= nq) {
            return;
        }
        int i = i0 + lid;
        int row = i < nq ? 1 : 0;
        int first = row == 1 ? firstKey(i, nq, nk, 1, window) : 1;
        int last = row == 1 ? lastKey(i, nq, nk, 1) : 0;
        int lo = firstKey(i0, nq, nk, 1, window);
        int hi = lastKey(Math.min(nq, i0 + br) - 1, nq, nk, 1);
        long qAt = ((long) i * heads + h) * d;
        long head = (long) (h / (heads / kvHeads)) * capacity * d;
        beginRow(q, qAt, row, scale, qs, os, ml, lid, d);
        for (int kb = lo; kb <= hi; kb += bc) {
            int nc = Math.min(bc, hi + 1 - kb);
            for (int x = lid; x < nc * d; x += br) {
                long at = head + (long) kb * d + x;
                ks[x] = k.get(at);
                vs[x] = v.get(at);
            }
            for (int c = lid; c < nc; c += br) {
                km[c] = 1.0f;
            }
            ctx.barrier();
            foldBlock(ks, vs, km, qs, os, ps, ml, kb, nc, first, last, lid, d, bc);
            ctx.barrier();
        }
        endRow(out, qAt, row, os, ml, lid, d);
    }

    /** Item {@code lid}'s query row, pre-scaled, into {@code qs}; its {@code Õ} zeroed; {@code m = −∞, l = 0}. */
    @DeviceFunction
    static void beginRow(F32 q, long qAt, int row, float scale, float[] qs, float[] os, float[] ml, int lid, int d) {
        int qr = lid * d;
        for (int e = 0; e < d; e++) {
            qs[qr + e] = row == 1 ? q.get(qAt + e) * scale : 0.0f;
            os[qr + e] = 0.0f;
        }
        ml[2 * lid] = Float.NEGATIVE_INFINITY;
        ml[2 * lid + 1] = 0.0f;
    }

    /**
     * Item {@code lid}'s online-softmax step over the staged block of {@code nc} keys starting at key {@code kb}: its
     * scores (−∞ for keys outside {@code [first, last]} or with a staged key-mask entry {@code km[c]} of 0), the
     * rescale of {@code l} and {@code Õ}, and {@code P·V} added into its row of {@code Õ}.
     */
    @DeviceFunction
    static void foldBlock(float[] ks, float[] vs, float[] km, float[] qs, float[] os, float[] ps, float[] ml, int kb,
            int nc, int first, int last, int lid, int d, int bc) {
        int qr = lid * d;
        int pr = lid * bc;
        float bmax = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < nc; c++) {
            int j = kb + c;
            float sc = Float.NEGATIVE_INFINITY;
            if (j >= first && j <= last && km[c] != 0.0f) {
                float dot = 0.0f;
                int kr = c * d;
                for (int e = 0; e < d; e++) {
                    dot = KMath.fma(qs[qr + e], ks[kr + e], dot);
                }
                sc = dot;
            }
            ps[pr + c] = sc;
            bmax = Math.max(bmax, sc);
        }
        float m = ml[2 * lid];
        float mNew = Math.max(m, bmax);
        float shift = Math.max(mNew, -Float.MAX_VALUE);
        float corr = KMath.exp(m - shift);
        float sum = 0.0f;
        for (int c = 0; c < nc; c++) {
            float p = KMath.exp(ps[pr + c] - shift);
            ps[pr + c] = p;
            sum += p;
        }
        ml[2 * lid + 1] = ml[2 * lid + 1] * corr + sum;
        ml[2 * lid] = mNew;
        for (int e = 0; e < d; e++) {
            float acc = 0.0f;
            for (int c = 0; c < nc; c++) {
                acc = KMath.fma(ps[pr + c], vs[c * d + e], acc);
            }
            os[qr + e] = KMath.fma(os[qr + e], corr, acc);
        }
    }

    /** Deferred normalisation: item {@code lid}'s {@code Õ / l} (zeros when it saw no key) to {@code out}. */
    @DeviceFunction
    static void endRow(F32 out, long qAt, int row, float[] os, float[] ml, int lid, int d) {
        if (row == 1) {
            float l = ml[2 * lid + 1];
            float inv = l == 0.0f ? 0.0f : 1.0f / l;
            for (int e = 0; e < d; e++) {
                out.set(qAt + e, os[lid * d + e] * inv);
            }
        }
    }
}
