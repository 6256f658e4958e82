package dev.gale.kernels.sampling;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.kernels.Operands;
import dev.gale.kernels.activation.VectorMath;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Temperature and top-p (nucleus) sampling of one logits row with a caller-drawn coin.
 *
 * <p><b>Definition</b> (the same on every path): {@code e_i = exp((x_i − max x)/T)}, {@code S = Σ e_i}. The nucleus
 * is {@code {i : e_i ≥ τ}} for the largest {@code τ} whose mass {@code M(τ) = Σ_{e_i ≥ τ} e_i} exceeds
 * {@code topP·S}: the smallest set of most likely tokens holding more than {@code topP} of the probability, with every
 * token tied at the boundary included ({@code topP ≥ 1} keeps every token). The token is the first index, in
 * vocabulary order, at which the running nucleus mass exceeds {@code coin·M(τ)}. Sampling in vocabulary order (not
 * in sorted order as llama2.c does) gives the same distribution and needs no sort, so a device can do it with
 * reductions and one prefix sum. A row with a NaN or infinite logit samples −1 on every path.
 *
 * <p><b>Finding τ without sorting.</b> A token below {@code c = (1 − topP)·S/(n − 1)} is in the nucleus only if it is
 * the top token: otherwise it and every token after it in sorted order (at most {@code n − 1} of them, each below
 * {@code c}) would hold less than {@code (1 − topP)·S}, and the nucleus would have closed before it. So τ lies in
 * {@code [min(c, 1), 1]} ({@code e} of the top token is 1), where bisection on the float's bits, which order like the
 * floats for positive values, pins it to an exact {@code e_i} in at most 31 halvings.
 */
public final class NucleusSampler {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private NucleusSampler() {
    }

    /** The scalar reference, in double: sort, prefix, scan. Allocates; meant for tests. */
    public static int reference(MemorySegment logits, long off, int n, float temperature, float topP, float coin) {
        check(logits, off, n, temperature, topP, coin);
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            float x = logits.get(F32, off + 4L * i);
            if (!Float.isFinite(x)) {
                return -1;
            }
            max = Math.max(max, x);
        }
        double[] e = new double[n];
        double s = 0;
        for (int i = 0; i < n; i++) {
            e[i] = Math.exp((logits.get(F32, off + 4L * i) - max) / temperature);
            s += e[i];
        }
        double tau = 0;
        if (topP < 1) {
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) {
                order[i] = i;
            }
            java.util.Arrays.sort(order, (a, b) -> e[a] != e[b] ? Double.compare(e[b], e[a]) : Integer.compare(a, b));
            double cum = 0;
            for (int k = 0; k < n; k++) {
                cum += e[order[k]];
                if (cum > topP * s) {
                    tau = e[order[k]];
                    break;
                }
            }
        }
        double mass = 0;
        for (double v : e) {
            mass += v >= tau ? v : 0;
        }
        double target = coin * mass;
        double cum = 0;
        int last = -1;
        for (int i = 0; i < n; i++) {
            if (e[i] >= tau) {
                cum += e[i];
                last = i;
                if (cum > target) {
                    return i;
                }
            }
        }
        return last;
    }

    /**
     * The Vector API path on the calling thread. {@code probs} ({@code n} floats) receives the unnormalised
     * {@code e_i}; {@code candidates} ({@code n} ints) is scratch. Allocates nothing.
     */
    public static int apply(MemorySegment logits, long off, int n, float temperature, float topP, float coin,
            MemorySegment probs, int[] candidates) {
        check(logits, off, n, temperature, topP, coin);
        Operands.requireF32("sample", "probs", probs, 0, n);
        if (candidates.length < n) {
            throw new IllegalArgumentException("sample: candidates holds " + candidates.length + " < " + n);
        }
        float max = max(logits, off, n);
        if (!Float.isFinite(max)) {
            return -1;
        }
        float s = exponentials(logits, off, n, max, 1f / temperature, probs);
        if (topP >= 1 || n == 1) {
            return scanAll(probs, n, coin * s);
        }
        // Above 1 (the top token's e) only when the top token alone is the nucleus; see the class comment.
        float cutoff = Math.min(1f, (1 - topP) * s / (n - 1));
        int c = 0;
        for (int i = 0; i < n; i++) {
            // Branch-light compaction: most tokens of a trained model's distribution fall below the cutoff.
            candidates[c] = i;
            c += probs.get(F32, 4L * i) >= cutoff ? 1 : 0;
        }
        float goal = topP * s;
        int lo = Float.floatToRawIntBits(cutoff);
        int hi = Float.floatToRawIntBits(1f);
        while (lo < hi) {
            int mid = lo + (hi - lo + 1) / 2;
            if (mass(probs, candidates, c, Float.intBitsToFloat(mid)) > goal) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        float tau = Float.intBitsToFloat(lo);
        float target = coin * mass(probs, candidates, c, tau);
        float cum = 0;
        int last = -1;
        for (int k = 0; k < c; k++) {
            int i = candidates[k];
            float v = probs.get(F32, 4L * i);
            if (v >= tau) {
                cum += v;
                last = i;
                if (cum > target) {
                    return i;
                }
            }
        }
        return last;
    }

    private static float mass(MemorySegment probs, int[] cand, int c, float tau) {
        float m = 0;
        for (int k = 0; k < c; k++) {
            float v = probs.get(F32, 4L * cand[k]);
            m += v >= tau ? v : 0f;
        }
        return m;
    }

    /** Max of the row, or NaN/∞ if any logit is not finite. */
    private static float max(MemorySegment x, long off, int n) {
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        FloatVector bad = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, off + 4L * i, ORDER);
            m = m.max(v);
            bad = bad.add(v.sub(v)); // x − x is 0 for finite x and NaN for NaN and ±∞
        }
        float r = m.reduceLanes(VectorOperators.MAX);
        float b = bad.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float v = x.get(F32, off + 4L * i);
            r = Math.max(r, v);
            b += v - v;
        }
        return Float.isNaN(b) ? Float.NaN : r;
    }

    private static float exponentials(MemorySegment x, long off, int n, float max, float invT, MemorySegment probs) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, off + 4L * i, ORDER);
            FloatVector e = VectorMath.exp(v.sub(max).mul(invT));
            e.intoMemorySegment(probs, 4L * i, ORDER);
            acc = acc.add(e);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = VectorMath.exp((x.get(F32, off + 4L * i) - max) * invT);
            probs.set(F32, 4L * i, e);
            s += e;
        }
        return s;
    }

    /** First index whose running sum exceeds {@code target}: whole vectors are skipped by their sums. */
    private static int scanAll(MemorySegment probs, int n, float target) {
        float cum = 0;
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            float blk = FloatVector.fromMemorySegment(F, probs, 4L * i, ORDER).reduceLanes(VectorOperators.ADD);
            if (cum + blk > target) {
                break;
            }
            cum += blk;
        }
        for (; i < n; i++) {
            cum += probs.get(F32, 4L * i);
            if (cum > target) {
                return i;
            }
        }
        return n - 1;
    }

    private static void check(MemorySegment logits, long off, int n, float temperature, float topP, float coin) {
        Operands.requireDim("sample", "n", n, 1);
        Operands.requireF32("sample", "logits", logits, off, n);
        if (!(temperature > 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("sample: temperature must be finite and > 0 (use argmax for 0), got "
                    + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("sample: top-p must be in (0, 1], got " + topP);
        }
        if (!(coin >= 0 && coin < 1)) {
            throw new IllegalArgumentException("sample: the coin must be in [0, 1), got " + coin);
        }
    }
}
