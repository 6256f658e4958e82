package dev.gale.kernels.sampling;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * {@link NucleusSampler}'s definition as one device kernel: one work group of {@code group} items,
 * {@code Grid.of1(group, group)}, item {@code l} owning the contiguous chunk {@code [l·c, (l+1)·c)} so the final
 * prefix sum is over items in vocabulary order. Everything is reductions: the max, {@code S}, 31 bisection steps of
 * the nucleus mass {@code M(τ)}, and the prefix that finds the item whose chunk holds {@code coin·M(τ)}. The
 * exponentials are stored once in {@code probs} and re-read by each step. Control flow that contains barriers depends
 * only on reduced values, which every item holds, so all items meet at every barrier.
 */
public final class SampleKernels {
    private SampleKernels() {
    }

    /** Sum of every item's {@code v}, returned to all items; {@code red} holds {@code group + 1} floats. */
    @DeviceFunction
    static float groupSum(KernelContext ctx, float[] red, float v, int group) {
        int lid = ctx.localId(0);
        red[lid] = v;
        ctx.barrier();
        if (lid == 0) {
            float s = 0.0f;
            for (int j = 0; j < group; j++) {
                s += red[j];
            }
            red[group] = s;
        }
        ctx.barrier();
        float total = red[group];
        ctx.barrier();
        return total;
    }

    /** Maximum of every item's {@code v}, returned to all items. */
    @DeviceFunction
    static float groupMax(KernelContext ctx, float[] red, float v, int group) {
        int lid = ctx.localId(0);
        red[lid] = v;
        ctx.barrier();
        if (lid == 0) {
            float m = red[0];
            for (int j = 1; j < group; j++) {
                m = KMath.max(m, red[j]);
            }
            red[group] = m;
        }
        ctx.barrier();
        float total = red[group];
        ctx.barrier();
        return total;
    }

    @Kernel
    public static void sample(KernelContext ctx, F32 logits, F32 probs, I32 out, int n, float invT, float topP,
            float coin, @Const int group) {
        float[] red = ctx.localFloats(group + 1);
        int[] found = ctx.localInts(group + 1);
        int lid = ctx.localId(0);
        int chunk = (n + group - 1) / group;
        int start = KMath.min(n, lid * chunk);
        int end = KMath.min(n, start + chunk);
        float m = Float.NEGATIVE_INFINITY;
        float bad = 0.0f;
        for (int i = start; i < end; i++) {
            float v = logits.get(i);
            m = KMath.max(m, v);
            bad += v - v;
        }
        float max = groupMax(ctx, red, m, group);
        float badAll = groupSum(ctx, red, bad, group);
        // A non-finite logit makes every later value NaN; the kernel runs on (no early return: PoCL's work-item
        // loops want every barrier reached the same way) and writes −1 at the end.
        float part = 0.0f;
        for (int i = start; i < end; i++) {
            float e = KMath.exp((logits.get(i) - max) * invT);
            probs.set(i, e);
            part += e;
        }
        float s = groupSum(ctx, red, part, group);
        float goal = topP * s;
        int lo = 0;
        int hi = 0;
        if (topP < 1.0f && n > 1) {
            lo = Float.floatToRawIntBits(KMath.min(1.0f, (1.0f - topP) * s / (n - 1)));
            hi = Float.floatToRawIntBits(1.0f);
        }
        // A fixed trip count (31 halvings cover any positive float interval) keeps the barrier loop uniform in
        // form, not only in value; finished searches skip the scan but still meet at the barriers.
        for (int it = 0; it < 31; it++) {
            int mid = lo + (hi - lo + 1) / 2;
            float t = Float.intBitsToFloat(mid);
            float pm = 0.0f;
            if (lo < hi) {
                for (int i = start; i < end; i++) {
                    float e = probs.get(i);
                    if (e >= t) {
                        pm += e;
                    }
                }
            }
            float mt = groupSum(ctx, red, pm, group);
            if (lo < hi) {
                if (mt > goal) {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
        }
        float tau = Float.intBitsToFloat(lo);
        float mine = 0.0f;
        int last = -1;
        for (int i = start; i < end; i++) {
            float e = probs.get(i);
            if (e >= tau) {
                mine += e;
                last = i;
            }
        }
        red[lid] = mine;
        found[lid] = last;
        if (lid == 0) {
            found[group] = -1;
        }
        ctx.barrier();
        float prefix = 0.0f;
        float mass = 0.0f;
        for (int j = 0; j < group; j++) {
            if (j < lid) {
                prefix += red[j];
            }
            mass += red[j];
        }
        float target = coin * mass;
        if (mine > 0.0f && prefix <= target && target < prefix + mine) {
            float cum = prefix;
            int pick = last;
            for (int i = start; i < end; i++) {
                float e = probs.get(i);
                if (e >= tau) {
                    cum += e;
                    if (cum > target) {
                        pick = i;
                        break;
                    }
                }
            }
            found[group] = pick;
        }
        ctx.barrier();
        if (lid == 0) {
            int pick = found[group];
            if (Float.isNaN(badAll)) {
                pick = -1;
            } else if (pick < 0) {
                // coin·M rounded onto M itself: the last nucleus token, as the reference does.
                for (int j = 0; j < group; j++) {
                    pick = KMath.max(pick, found[j]);
                }
            }
            out.set(0, pick);
        }
    }
}
