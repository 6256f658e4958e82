package dev.gale.kernels.attention;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The plainest attention there is, in double precision: for each query row the full score vector, a softmax and a
 * weighted sum of values. Every kernel of the family is tested against it.
 */
public final class AttentionReference {
    private AttentionReference() {
    }

    /**
     * Attention of one sequence: {@code nq} queries against {@code nk} keys.
     *
     * @param keyMask U8 key-padding mask of {@code nk} bytes at {@code maskOff} (0 = padding), or null for none
     * @param lse     if not null, receives each row's log-sum-exp at {@code [i·Hq + h]} (−∞ for a fully masked row)
     * @param scale   if not null, receives the error scale of each output element at {@code [(i·Hq + h)·d + e]}:
     *                {@code Σ_j p_j·|v_{j,e}|}, the size of the weighted sum an F32 kernel is held to relative to
     *                (tests add a term for the scores' own rounding where the logits are large)
     */
    public static void attend(AttentionSpec spec, HeadView q, HeadView k, HeadView v, HeadView out, int nq, int nk,
            MemorySegment keyMask, long maskOff, double[] lse, double[] scale) {
        int d = spec.headDim();
        q.require("attention", "q", nq, spec.heads(), d);
        out.require("attention", "out", nq, spec.heads(), d);
        k.require("attention", "k", nk, spec.kvHeads(), d);
        v.require("attention", "v", nk, spec.kvHeads(), d);
        if (keyMask != null && maskOff + nk > keyMask.byteSize()) {
            throw new IllegalArgumentException("attention: key mask needs " + nk + " bytes at " + maskOff);
        }
        double[] s = new double[Math.max(nk, 1)];
        double[] o = new double[d];
        double[] a = new double[d];
        for (int h = 0; h < spec.heads(); h++) {
            int kh = h / spec.group();
            for (int i = 0; i < nq; i++) {
                int first = spec.firstKey(i, nq, nk);
                int last = spec.lastKey(i, nq, nk);
                double max = Double.NEGATIVE_INFINITY;
                for (int j = first; j <= last; j++) {
                    if (keyMask != null && keyMask.get(JAVA_BYTE, maskOff + j) == 0) {
                        s[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int e = 0; e < d; e++) {
                        dot += (double) q.get(i, h, e) * k.get(j, kh, e);
                    }
                    s[j] = dot * spec.scale();
                    max = Math.max(max, s[j]);
                }
                Arrays.fill(o, 0);
                Arrays.fill(a, 0);
                double sum = 0;
                if (max != Double.NEGATIVE_INFINITY) {
                    for (int j = first; j <= last; j++) {
                        if (s[j] == Double.NEGATIVE_INFINITY) {
                            continue;
                        }
                        double p = Math.exp(s[j] - max);
                        sum += p;
                        for (int e = 0; e < d; e++) {
                            double ve = v.get(j, kh, e);
                            o[e] += p * ve;
                            a[e] += p * Math.abs(ve);
                        }
                    }
                }
                for (int e = 0; e < d; e++) {
                    out.set(i, h, e, sum == 0 ? 0f : (float) (o[e] / sum));
                    if (scale != null) {
                        scale[(i * spec.heads() + h) * d + e] = sum == 0 ? 0 : a[e] / sum;
                    }
                }
                if (lse != null) {
                    lse[i * spec.heads() + h] = sum == 0 ? Double.NEGATIVE_INFINITY : max + Math.log(sum);
                }
            }
        }
    }
}
