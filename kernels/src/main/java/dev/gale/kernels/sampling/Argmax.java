package dev.gale.kernels.sampling;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Index of the largest of {@code n} F32 (greedy decoding over a vocab row).
 *
 * <p>Order, the same as {@link TopK}'s: NaN ranks above every number (as NumPy's and PyTorch's argmax), so the first
 * NaN wins when there is one; otherwise the first index holding the maximum; {@code -0.0} and {@code +0.0} are equal
 * (so ties between them go to the lower index).
 */
public final class Argmax {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private Argmax() {
    }

    /** The scalar reference: one pass, strict comparison, first NaN wins. */
    public static int reference(MemorySegment x, long xOff, int n) {
        check(x, xOff, n);
        int best = 0;
        float bestV = x.get(F32, xOff);
        if (Float.isNaN(bestV)) {
            return 0;
        }
        for (int i = 1; i < n; i++) {
            float v = x.get(F32, xOff + 4L * i);
            if (Float.isNaN(v)) {
                return i;
            }
            if (v > bestV) {
                bestV = v;
                best = i;
            }
        }
        return best;
    }

    /**
     * Vector API implementation: a max pass (NaN-propagating), then a search for the first lane equal to the max
     * (or the first NaN). The second pass stops at the hit, so it usually reads part of the row. Allocates nothing.
     */
    public static int apply(MemorySegment x, long xOff, int n) {
        check(x, xOff, n);
        // INNER-element pieces, each in its own method call, so the vector loops are compiled normally rather than
        // on-stack-replaced inside one long call (see Operands.INNER).
        float max = Float.NEGATIVE_INFINITY;
        for (int s = 0; s < n; s += Operands.INNER) {
            max = Math.max(max, maxBlock(x, xOff, s, Math.min(n, s + Operands.INNER)));
        }
        for (int s = 0; s < n; s += Operands.INNER) {
            int e = Math.min(n, s + Operands.INNER);
            int hit = Float.isNaN(max) ? firstNaN(x, xOff, s, e) : firstEqual(x, xOff, s, e, max);
            if (hit >= 0) {
                return hit;
            }
        }
        throw new IllegalStateException("argmax: maximum " + max + " not found again (concurrent writer?)");
    }

    private static float maxBlock(MemorySegment x, long xOff, int from, int to) {
        FloatVector m0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        FloatVector m1 = m0;
        int i = from;
        int bound2 = from + (to - from) / (2 * L) * (2 * L);
        int bound = from + F.loopBound(to - from);
        for (; i < bound2; i += 2 * L) {
            m0 = m0.max(FloatVector.fromMemorySegment(F, x, xOff + 4L * i, ORDER)); // NaN propagates
            m1 = m1.max(FloatVector.fromMemorySegment(F, x, xOff + 4L * (i + L), ORDER));
        }
        for (; i < bound; i += L) {
            m0 = m0.max(FloatVector.fromMemorySegment(F, x, xOff + 4L * i, ORDER));
        }
        float max = m0.max(m1).reduceLanes(VectorOperators.MAX);
        for (; i < to; i++) {
            max = Math.max(max, x.get(F32, xOff + 4L * i));
        }
        return max;
    }

    private static int firstEqual(MemorySegment x, long xOff, int from, int to, float max) {
        int i = from;
        int bound = from + F.loopBound(to - from);
        for (; i < bound; i += L) {
            var hit = FloatVector.fromMemorySegment(F, x, xOff + 4L * i, ORDER).compare(VectorOperators.EQ, max);
            if (hit.anyTrue()) {
                return i + hit.firstTrue();
            }
        }
        for (; i < to; i++) {
            if (x.get(F32, xOff + 4L * i) == max) {
                return i;
            }
        }
        return -1;
    }

    private static int firstNaN(MemorySegment x, long xOff, int from, int to) {
        int i = from;
        int bound = from + F.loopBound(to - from);
        for (; i < bound; i += L) {
            var hit = FloatVector.fromMemorySegment(F, x, xOff + 4L * i, ORDER).test(VectorOperators.IS_NAN);
            if (hit.anyTrue()) {
                return i + hit.firstTrue();
            }
        }
        for (; i < to; i++) {
            if (Float.isNaN(x.get(F32, xOff + 4L * i))) {
                return i;
            }
        }
        return -1;
    }

    private static void check(MemorySegment x, long xOff, int n) {
        Operands.requireDim("argmax", "n", n, 1);
        Operands.requireF32("argmax", "x", x, xOff, n);
    }
}
