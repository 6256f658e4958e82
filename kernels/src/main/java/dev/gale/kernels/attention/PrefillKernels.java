package dev.gale.kernels.attention;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
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
        boolean row = i < nq;
        int first = firstKey(i, nq, nk, causal, window);
        int last = lastKey(i, nq, nk, causal);
        if (!row) {
            first = 1;
            last = 0; // padding items see nothing
        }
        int lo = firstKey(i0, nq, nk, causal, window);
        int hi = lastKey(Math.min(nq, i0 + br) - 1, nq, nk, causal);
        int qr = lid * d;
        long qAt = ((long) (qStart + i) * heads + h) * d;
        for (int e = 0; e < d; e++) {
            qs[qr + e] = row ? q.get(qAt + e) * scale : 0.0f;
            os[qr + e] = 0.0f;
        }
        float m = Float.NEGATIVE_INFINITY;
        float l = 0.0f;
        int pr = lid * bc;
        for (int kb = lo; kb <= hi; kb += bc) {
            int nc = Math.min(bc, hi + 1 - kb);
            for (int x = lid; x < nc * d; x += br) {
                int c = x / d;
                long at = ((long) (kStart + kb + c) * kvHeads + kvHead) * d + (x - c * d);
                ks[x] = k.get(at);
                vs[x] = v.get(at);
            }
            ctx.barrier();
            float bmax = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < nc; c++) {
                int j = kb + c;
                float sc = Float.NEGATIVE_INFINITY;
                if (j >= first && j <= last && (useMask == 0 || mask.get(kStart + j) != 0)) {
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
            float mNew = Math.max(m, bmax);
            float shift = Math.max(mNew, -Float.MAX_VALUE);
            float corr = KMath.exp(m - shift);
            float sum = 0.0f;
            for (int c = 0; c < nc; c++) {
                float p = KMath.exp(ps[pr + c] - shift);
                ps[pr + c] = p;
                sum += p;
            }
            l = l * corr + sum;
            m = mNew;
            for (int e = 0; e < d; e++) {
                float acc = 0.0f;
                for (int c = 0; c < nc; c++) {
                    acc = KMath.fma(ps[pr + c], vs[c * d + e], acc);
                }
                os[qr + e] = KMath.fma(os[qr + e], corr, acc);
            }
            ctx.barrier();
        }
        if (row) {
            float inv = l == 0.0f ? 0.0f : 1.0f / l;
            for (int e = 0; e < d; e++) {
                out.set(qAt + e, os[qr + e] * inv);
            }
        }
    }
}
