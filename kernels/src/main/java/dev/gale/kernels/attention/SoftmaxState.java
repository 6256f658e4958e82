package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F32;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The online-softmax partial state of one query row over a subset S of keys, and its merge operator (papers.md §0):
 * {@code m = max s_j}, {@code l = Σ exp(s_j − m)}, {@code Õ = Σ exp(s_j − m)·v_j} (unnormalised), all F32 whatever the
 * KV precision.
 *
 * <p>Layout: one state is {@code d + 2} floats, {@code [m, l, Õ_0 … Õ_{d−1}]}; {@code g} states of a GQA group lie
 * back to back. The identity is {@code (−∞, 0, 0)}. A state whose {@code l} is 0 saw no key (fully masked) and
 * normalises to zeros: the merge never forms {@code exp(−∞ − (−∞))}, so no NaN can appear.
 */
public final class SoftmaxState {
    public static final int M = 0;
    public static final int L = 1;
    public static final int O = 2;

    private SoftmaxState() {
    }

    /** Floats in one state of head dim {@code d}. */
    public static int stride(int d) {
        return d + 2;
    }

    /** Sets {@code count} states at {@code off} to the identity. */
    public static void reset(float[] s, int off, int count, int d) {
        for (int r = 0; r < count; r++) {
            int b = off + r * (d + 2);
            s[b + M] = Float.NEGATIVE_INFINITY;
            s[b + L] = 0f;
            Arrays.fill(s, b + O, b + O + d, 0f);
        }
    }

    /**
     * {@code a ⊕= b} for one state of head dim {@code d}. Commutative and associative up to rounding; the larger
     * maximum is kept, so both rescale factors are at most 1.
     */
    public static void merge(float[] a, int aOff, float[] b, int bOff, int d) {
        float lb = b[bOff + L];
        if (lb == 0f) {
            return;
        }
        float la = a[aOff + L];
        if (la == 0f) {
            System.arraycopy(b, bOff, a, aOff, d + 2);
            return;
        }
        float ma = a[aOff + M];
        float mb = b[bOff + M];
        float m = Math.max(ma, mb);
        float alpha = (float) Math.exp(ma - m);
        float beta = (float) Math.exp(mb - m);
        a[aOff + M] = m;
        a[aOff + L] = alpha * la + beta * lb;
        for (int e = 0; e < d; e++) {
            a[aOff + O + e] = alpha * a[aOff + O + e] + beta * b[bOff + O + e];
        }
    }

    /**
     * Writes the normalised output {@code Õ / l} (zeros if the state saw no key) as F32 at byte {@code outOff}, and
     * leaves it normalised in {@code s}: the scaling happens in the array and the row goes out in one bulk copy, because
     * a per-element store into a segment whose implementation class varies across call sites (native, mapped, Arrow)
     * stops being inlined and cost milliseconds per decode call in a process that had seen several.
     */
    public static void normalise(float[] s, int off, int d, MemorySegment out, long outOff) {
        float l = s[off + L];
        float inv = l == 0f ? 0f : 1f / l;
        for (int e = 0; e < d; e++) {
            s[off + O + e] *= inv;
        }
        MemorySegment.copy(s, off + O, out, F32, outOff, d);
    }

    /** The log-sum-exp {@code m + ln l}, −∞ for a state that saw no key. */
    public static float lse(float[] s, int off) {
        float l = s[off + L];
        return l == 0f ? Float.NEGATIVE_INFINITY : s[off + M] + (float) Math.log(l);
    }
}
