package dev.gale.kernels.sampling;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.core.ShapeMismatchException;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The {@code k} largest of {@code n} F32 with their indices, ordered best first; ties go to the lower index. The
 * order is {@link Argmax}'s: NaN above every number, {@code -0.0 == +0.0}; so {@code topK(k = 1)} is the argmax.
 *
 * <p>Results go to caller-owned arrays {@code idx[0..k)} and {@code val[0..k)}, which are also the working storage:
 * nothing is allocated. The vector path keeps a size-k min-heap (worst candidate at the root) and skips whole vectors
 * with no lane above the root's value, so for the usual k ≤ 64 over a vocab row it reads the row once and touches the
 * heap rarely; a final heap sort orders the result. It works for any k up to n (O(n log k)).
 */
public final class TopK {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private TopK() {
    }

    /**
     * The scalar reference: a selection by repeated scans (O(n·k)), obviously right and meant for tests. Same
     * arguments and results as {@link #apply}.
     */
    public static void reference(MemorySegment x, long xOff, int n, int k, int[] idx, float[] val) {
        check(x, xOff, n, k, idx, val);
        int prevIdx = -1;
        float prevVal = 0;
        for (int r = 0; r < k; r++) {
            int best = -1;
            float bestV = 0;
            for (int i = 0; i < n; i++) {
                float v = x.get(F32, xOff + 4L * i);
                // Candidates must rank strictly after the previous pick, and be better than the best so far.
                if (r > 0 && !worse(v, i, prevVal, prevIdx)) {
                    continue;
                }
                if (best < 0 || worse(bestV, best, v, i)) {
                    best = i;
                    bestV = v;
                }
            }
            idx[r] = best;
            val[r] = bestV;
            prevIdx = best;
            prevVal = bestV;
        }
    }

    /** Vector API implementation on the calling thread: {@code idx[0..k)}, {@code val[0..k)} best first. */
    public static void apply(MemorySegment x, long xOff, int n, int k, int[] idx, float[] val) {
        check(x, xOff, n, k, idx, val);
        // Fill the heap with the first k elements.
        for (int i = 0; i < k; i++) {
            idx[i] = i;
            val[i] = x.get(F32, xOff + 4L * i);
        }
        for (int i = k / 2 - 1; i >= 0; i--) {
            siftDown(idx, val, i, k);
        }
        // The rest in INNER-element pieces, each in its own call (normal compilation, no OSR; see Operands.INNER).
        for (int s = k; s < n; s += Operands.INNER) {
            scan(x, xOff, s, Math.min(n, s + Operands.INNER), k, idx, val);
        }
        // Heap sort: repeatedly move the worst to the end, leaving best first.
        for (int end = k - 1; end > 0; end--) {
            swap(idx, val, 0, end);
            siftDown(idx, val, 0, end);
        }
    }

    /** Offers elements [from, to) to the heap, skipping whole vectors with no lane better than the root. */
    private static void scan(MemorySegment x, long xOff, int from, int to, int k, int[] idx, float[] val) {
        int i = from;
        int bound = from + F.loopBound(to - from);
        float threshold = val[0];
        for (; i < bound; i += L) {
            if (Float.isNaN(threshold)) {
                return; // the heap holds k NaNs that came first: nothing later can enter
            }
            FloatVector v = FloatVector.fromMemorySegment(F, x, xOff + 4L * i, ORDER);
            // A later index enters only if strictly better than the root: greater, or NaN over a number.
            var enter = v.compare(VectorOperators.GT, threshold).or(v.test(VectorOperators.IS_NAN));
            if (!enter.anyTrue()) {
                continue;
            }
            for (int j = 0; j < L; j++) {
                offer(x.get(F32, xOff + 4L * (i + j)), i + j, k, idx, val);
            }
            threshold = val[0];
        }
        for (; i < to; i++) {
            offer(x.get(F32, xOff + 4L * i), i, k, idx, val);
        }
    }

    private static void offer(float c, int ci, int k, int[] idx, float[] val) {
        if (worse(val[0], idx[0], c, ci)) {
            idx[0] = ci;
            val[0] = c;
            siftDown(idx, val, 0, k);
        }
    }

    /** True if (va, ia) ranks below (vb, ib): smaller value, or equal value and larger index; NaN ranks highest. */
    static boolean worse(float va, int ia, float vb, int ib) {
        boolean na = Float.isNaN(va);
        boolean nb = Float.isNaN(vb);
        if (na != nb) {
            return nb;
        }
        if (!na && va != vb) {
            return va < vb;
        }
        return ia > ib;
    }

    /** Min-heap on rank: the root is the worst kept candidate. */
    private static void siftDown(int[] idx, float[] val, int at, int size) {
        int i = at;
        while (true) {
            int l = 2 * i + 1;
            if (l >= size) {
                return;
            }
            int w = l;
            int r = l + 1;
            if (r < size && worse(val[r], idx[r], val[l], idx[l])) {
                w = r;
            }
            if (!worse(val[w], idx[w], val[i], idx[i])) {
                return;
            }
            swap(idx, val, i, w);
            i = w;
        }
    }

    private static void swap(int[] idx, float[] val, int a, int b) {
        int ti = idx[a];
        idx[a] = idx[b];
        idx[b] = ti;
        float tv = val[a];
        val[a] = val[b];
        val[b] = tv;
    }

    private static void check(MemorySegment x, long xOff, int n, int k, int[] idx, float[] val) {
        Operands.requireDim("topk", "n", n, 1);
        Operands.requireF32("topk", "x", x, xOff, n);
        if (k < 1 || k > n) {
            throw new ShapeMismatchException("topk: k must be in [1, n = " + n + "], got k = " + k);
        }
        if (idx == null || idx.length < k) {
            throw new ShapeMismatchException("topk: operand 'idx' has " + (idx == null ? 0 : idx.length)
                    + " entries, k = " + k + " needed");
        }
        if (val == null || val.length < k) {
            throw new ShapeMismatchException("topk: operand 'val' has " + (val == null ? 0 : val.length)
                    + " entries, k = " + k + " needed");
        }
    }
}
