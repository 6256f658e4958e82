package dev.gale.kernels.rope;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Rotary position embedding, in place, with the layout, head dimension and θ of a {@link RopeTable}.
 *
 * <p>Layout of an operand: {@code tokens × heads × headDim} F32, row-major (one token's heads contiguous, as the Q/K
 * projections produce them). Token {@code t} is at position {@code positions[t]}; positions must lie in the table.
 * Each pair {@code (a, b)} of a head becomes {@code (a·cos − b·sin, a·sin + b·cos)}; which elements pair up is the
 * table's {@link RopeLayout}. Both layouts run the same float operations per pair
 * ({@code fma(partner, ±sin, x·cos)}), so they agree bit for bit up to the layout permutation.
 */
public final class Rope {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Swaps neighbouring lanes: (x1, x0, x3, x2, …). */
    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);
    /** Head rows per parallel chunk at least. */
    private static final int PARALLEL_GRAIN_ELEMS = 1 << 14;

    private Rope() {
    }

    /** The scalar reference: pair by pair in double, with the table's cos/sin. */
    public static void reference(RopeTable table, MemorySegment x, long xOff, int tokens, int heads, int[] positions) {
        check(table, "x", x, xOff, tokens, heads, positions);
        int d = table.headDim();
        int half = d / 2;
        for (int t = 0; t < tokens; t++) {
            int p = positions[t];
            for (int h = 0; h < heads; h++) {
                long base = xOff + ((long) t * heads + h) * d * Float.BYTES;
                for (int i = 0; i < half; i++) {
                    int ia = table.layout() == RopeLayout.HALF_SPLIT ? i : 2 * i;
                    int ib = table.layout() == RopeLayout.HALF_SPLIT ? i + half : 2 * i + 1;
                    double a = x.get(F32, base + 4L * ia);
                    double b = x.get(F32, base + 4L * ib);
                    double c = table.cos(p, i);
                    double s = table.sin(p, i);
                    x.set(F32, base + 4L * ia, (float) (a * c - b * s));
                    x.set(F32, base + 4L * ib, (float) (a * s + b * c));
                }
            }
        }
    }

    /** Vector API implementation on the calling thread, for one operand. Allocates nothing. */
    public static void apply(RopeTable table, MemorySegment x, long xOff, int tokens, int heads, int[] positions) {
        check(table, "x", x, xOff, tokens, heads, positions);
        heads(table, x, xOff, heads, positions, 0, tokens * heads);
    }

    /**
     * Rotates queries ({@code tokens × nHeads × headDim}) and keys ({@code tokens × nKvHeads × headDim}) on the
     * calling thread. Allocates nothing.
     */
    public static void applyQK(RopeTable table, MemorySegment q, long qOff, MemorySegment k, long kOff, int tokens,
            int nHeads, int nKvHeads, int[] positions) {
        check(table, "q", q, qOff, tokens, nHeads, positions);
        check(table, "k", k, kOff, tokens, nKvHeads, positions);
        heads(table, q, qOff, nHeads, positions, 0, tokens * nHeads);
        heads(table, k, kOff, nKvHeads, positions, 0, tokens * nKvHeads);
    }

    /**
     * {@link #applyQK} with the {@code tokens × (nHeads + nKvHeads)} head rows split over {@link WorkerPool#shared()};
     * one small capture object per call. The segments must be readable from the pool's threads (a shared, global or
     * auto arena, not a confined one).
     */
    public static void applyQKParallel(RopeTable table, MemorySegment q, long qOff, MemorySegment k, long kOff,
            int tokens, int nHeads, int nKvHeads, int[] positions) {
        check(table, "q", q, qOff, tokens, nHeads, positions);
        check(table, "k", k, kOff, tokens, nKvHeads, positions);
        int qRows = tokens * nHeads;
        int total = qRows + tokens * nKvHeads;
        int grain = Math.max(1, PARALLEL_GRAIN_ELEMS / table.headDim());
        WorkerPool.shared().parallelFor(total, grain, (s, e) -> {
            if (s < qRows) {
                heads(table, q, qOff, nHeads, positions, s, Math.min(e, qRows));
            }
            if (e > qRows) {
                heads(table, k, kOff, nKvHeads, positions, Math.max(s, qRows) - qRows, e - qRows);
            }
        });
    }

    private static void check(RopeTable table, String name, MemorySegment x, long xOff, int tokens, int heads,
            int[] positions) {
        if (table == null) {
            throw new IllegalArgumentException("rope: table is null");
        }
        Operands.requireDim("rope", "tokens", tokens, 0);
        if (heads < 0) {
            throw new ShapeMismatchException("rope: heads of '" + name + "' must be >= 0, got " + heads);
        }
        if ((long) tokens * heads > Integer.MAX_VALUE) {
            throw new ShapeMismatchException("rope: " + tokens + " tokens x " + heads + " heads is too many rows");
        }
        Operands.requireF32("rope", name, x, xOff, (long) tokens * heads * table.headDim());
        if (positions == null || positions.length < tokens) {
            throw new ShapeMismatchException("rope: positions has " + (positions == null ? 0 : positions.length)
                    + " entries for " + tokens + " tokens");
        }
        for (int t = 0; t < tokens; t++) {
            if (positions[t] < 0 || positions[t] >= table.maxPositions()) {
                throw new ShapeMismatchException("rope: position " + positions[t] + " of token " + t
                        + " is outside the table's " + table.maxPositions() + " positions");
            }
        }
    }

    /** Head rows {@code [from, to)} of an operand with {@code heads} heads per token. */
    private static void heads(RopeTable table, MemorySegment x, long xOff, int heads, int[] positions, int from,
            int to) {
        int d = table.headDim();
        boolean halfSplit = table.layout() == RopeLayout.HALF_SPLIT;
        for (int r = from; r < to; r++) {
            int p = positions[r / heads];
            long base = xOff + (long) r * d * Float.BYTES;
            if (halfSplit) {
                halfSplit(table.cos, table.sin, p * (d / 2), x, base, d / 2);
            } else {
                adjacent(table.cos, table.sin, p * d, x, base, d);
            }
        }
    }

    private static void adjacent(float[] cos, float[] sin, int t0, MemorySegment x, long base, int d) {
        int j = 0;
        int bound = F.loopBound(d);
        for (; j < bound; j += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, base + 4L * j, ORDER);
            FloatVector c = FloatVector.fromArray(F, cos, t0 + j);
            FloatVector s = FloatVector.fromArray(F, sin, t0 + j);
            v.rearrange(SWAP_PAIRS).fma(s, v.mul(c)).intoMemorySegment(x, base + 4L * j, ORDER);
        }
        for (; j < d; j += 2) {
            float a = x.get(F32, base + 4L * j);
            float b = x.get(F32, base + 4L * j + 4);
            float c = cos[t0 + j];
            float s = sin[t0 + j + 1];
            x.set(F32, base + 4L * j, Math.fma(b, -s, a * c));
            x.set(F32, base + 4L * j + 4, Math.fma(a, s, b * c));
        }
    }

    private static void halfSplit(float[] cos, float[] sin, int t0, MemorySegment x, long base, int half) {
        long hiBase = base + 4L * half;
        int i = 0;
        int bound = F.loopBound(half);
        for (; i < bound; i += L) {
            FloatVector a = FloatVector.fromMemorySegment(F, x, base + 4L * i, ORDER);
            FloatVector b = FloatVector.fromMemorySegment(F, x, hiBase + 4L * i, ORDER);
            FloatVector c = FloatVector.fromArray(F, cos, t0 + i);
            FloatVector s = FloatVector.fromArray(F, sin, t0 + i);
            b.fma(s.neg(), a.mul(c)).intoMemorySegment(x, base + 4L * i, ORDER);
            a.fma(s, b.mul(c)).intoMemorySegment(x, hiBase + 4L * i, ORDER);
        }
        for (; i < half; i++) {
            float a = x.get(F32, base + 4L * i);
            float b = x.get(F32, hiBase + 4L * i);
            float c = cos[t0 + i];
            float s = sin[t0 + i];
            x.set(F32, base + 4L * i, Math.fma(b, -s, a * c));
            x.set(F32, hiBase + 4L * i, Math.fma(a, s, b * c));
        }
    }
}
