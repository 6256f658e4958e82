package dev.gale.bench.probe;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The inner loops of the roofline probes, one thread each: a read-only streaming sum, a STREAM triad and independent
 * FMA chains. They run over {@code float} elements of native memory with {@link FloatVector#SPECIES_PREFERRED}, so on
 * AVX-512 every load and store is 64 bytes wide and on AVX2 the same code uses 32 bytes.
 *
 * <p>Every kernel returns a value computed from all the work it did, so the JIT cannot drop any of it; callers fold
 * that value into a sink.
 */
public final class ProbeKernels {
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    /** Floats per vector. */
    public static final int LANES = SPECIES.length();
    /** Independent accumulators in {@link #readSum}: enough loads in flight to saturate the memory pipe. */
    public static final int READ_ACCUMULATORS = 8;
    /**
     * Independent chains in {@link #fmaChains}. Zen 4 and recent Intel cores have an FMA latency of 4 cycles and two
     * FMA pipes, so 8 chains in flight keep both busy; 12 leave a margin for cores with latency 5 or 6, and still fit
     * in 16 registers (AVX2) with room for the two operands.
     */
    public static final int FMA_CHAINS = 12;

    private static final long VBYTES = SPECIES.vectorByteSize();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ORDER);
    private static final float FMA_MUL = 0.5f;
    private static final float FMA_ADD = 0.5f;

    private ProbeKernels() {
    }

    /**
     * Sum of the floats at element indices {@code [from, to)} of {@code seg}, read with {@value #READ_ACCUMULATORS}
     * independent vector accumulators. The lanes are added in {@code float}, so the sum is exact only where each
     * lane's partial sum stays below 2<sup>24</sup> (the probes fill with small integers so that it does).
     */
    public static double readSum(MemorySegment seg, long from, long to) {
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        FloatVector a4 = a0;
        FloatVector a5 = a0;
        FloatVector a6 = a0;
        FloatVector a7 = a0;
        long step = (long) READ_ACCUMULATORS * LANES;
        long i = from;
        long bound = from + (to - from) / step * step;
        for (; i < bound; i += step) {
            long off = i * Float.BYTES;
            a0 = a0.add(FloatVector.fromMemorySegment(SPECIES, seg, off, ORDER));
            a1 = a1.add(FloatVector.fromMemorySegment(SPECIES, seg, off + VBYTES, ORDER));
            a2 = a2.add(FloatVector.fromMemorySegment(SPECIES, seg, off + 2 * VBYTES, ORDER));
            a3 = a3.add(FloatVector.fromMemorySegment(SPECIES, seg, off + 3 * VBYTES, ORDER));
            a4 = a4.add(FloatVector.fromMemorySegment(SPECIES, seg, off + 4 * VBYTES, ORDER));
            a5 = a5.add(FloatVector.fromMemorySegment(SPECIES, seg, off + 5 * VBYTES, ORDER));
            a6 = a6.add(FloatVector.fromMemorySegment(SPECIES, seg, off + 6 * VBYTES, ORDER));
            a7 = a7.add(FloatVector.fromMemorySegment(SPECIES, seg, off + 7 * VBYTES, ORDER));
        }
        for (; i + LANES <= to; i += LANES) {
            a0 = a0.add(FloatVector.fromMemorySegment(SPECIES, seg, i * Float.BYTES, ORDER));
        }
        double tail = 0;
        for (; i < to; i++) {
            tail += seg.getAtIndex(FLOAT, i);
        }
        FloatVector all = a0.add(a1).add(a2.add(a3)).add(a4.add(a5).add(a6.add(a7)));
        return laneSum(all) + tail;
    }

    /**
     * STREAM triad {@code a[i] = b[i] + s * c[i]} over element indices {@code [from, to)}. Returns {@code a[from]}
     * plus {@code a[to - 1]} (0 for an empty range), a value that depends on the stores.
     */
    public static double triad(MemorySegment a, MemorySegment b, MemorySegment c, float s, long from, long to) {
        FloatVector sv = FloatVector.broadcast(SPECIES, s);
        long step = 4L * LANES;
        long i = from;
        long bound = from + (to - from) / step * step;
        for (; i < bound; i += step) {
            long off = i * Float.BYTES;
            triadVector(a, b, c, sv, off);
            triadVector(a, b, c, sv, off + VBYTES);
            triadVector(a, b, c, sv, off + 2 * VBYTES);
            triadVector(a, b, c, sv, off + 3 * VBYTES);
        }
        for (; i + LANES <= to; i += LANES) {
            triadVector(a, b, c, sv, i * Float.BYTES);
        }
        for (; i < to; i++) {
            a.setAtIndex(FLOAT, i, Math.fma(s, c.getAtIndex(FLOAT, i), b.getAtIndex(FLOAT, i)));
        }
        return to > from ? (double) a.getAtIndex(FLOAT, from) + a.getAtIndex(FLOAT, to - 1) : 0;
    }

    private static void triadVector(MemorySegment a, MemorySegment b, MemorySegment c, FloatVector s, long off) {
        FloatVector bv = FloatVector.fromMemorySegment(SPECIES, b, off, ORDER);
        FloatVector cv = FloatVector.fromMemorySegment(SPECIES, c, off, ORDER);
        cv.fma(s, bv).intoMemorySegment(a, off, ORDER);
    }

    /**
     * Runs {@value #FMA_CHAINS} independent chains of {@code iterations} vector FMAs each, {@code v = v * 0.5 + 0.5},
     * chain {@code k} starting from {@code seed + k} in every lane (distinct seeds, so the JIT cannot merge chains).
     * The chains stay in registers and converge to 1, so nothing overflows or goes subnormal. Returns the sum of all
     * lanes of all chains. Work done: {@code iterations * FMA_CHAINS * LANES} FMAs, i.e. twice that in flops.
     */
    public static double fmaChains(int iterations, float seed) {
        FloatVector m = FloatVector.broadcast(SPECIES, FMA_MUL);
        FloatVector p = FloatVector.broadcast(SPECIES, FMA_ADD);
        FloatVector v0 = FloatVector.broadcast(SPECIES, seed);
        FloatVector v1 = FloatVector.broadcast(SPECIES, seed + 1);
        FloatVector v2 = FloatVector.broadcast(SPECIES, seed + 2);
        FloatVector v3 = FloatVector.broadcast(SPECIES, seed + 3);
        FloatVector v4 = FloatVector.broadcast(SPECIES, seed + 4);
        FloatVector v5 = FloatVector.broadcast(SPECIES, seed + 5);
        FloatVector v6 = FloatVector.broadcast(SPECIES, seed + 6);
        FloatVector v7 = FloatVector.broadcast(SPECIES, seed + 7);
        FloatVector v8 = FloatVector.broadcast(SPECIES, seed + 8);
        FloatVector v9 = FloatVector.broadcast(SPECIES, seed + 9);
        FloatVector v10 = FloatVector.broadcast(SPECIES, seed + 10);
        FloatVector v11 = FloatVector.broadcast(SPECIES, seed + 11);
        for (int k = 0; k < iterations; k++) {
            v0 = v0.fma(m, p);
            v1 = v1.fma(m, p);
            v2 = v2.fma(m, p);
            v3 = v3.fma(m, p);
            v4 = v4.fma(m, p);
            v5 = v5.fma(m, p);
            v6 = v6.fma(m, p);
            v7 = v7.fma(m, p);
            v8 = v8.fma(m, p);
            v9 = v9.fma(m, p);
            v10 = v10.fma(m, p);
            v11 = v11.fma(m, p);
        }
        return laneSum(v0) + laneSum(v1) + laneSum(v2) + laneSum(v3) + laneSum(v4) + laneSum(v5) + laneSum(v6)
                + laneSum(v7) + laneSum(v8) + laneSum(v9) + laneSum(v10) + laneSum(v11);
    }

    /** Scalar model of {@link #fmaChains}, for checking it: the same FMAs with {@link Math#fma}. */
    public static double fmaChainsReference(int iterations, float seed) {
        double total = 0;
        for (int chain = 0; chain < FMA_CHAINS; chain++) {
            float v = seed + chain;
            for (int k = 0; k < iterations; k++) {
                v = Math.fma(v, FMA_MUL, FMA_ADD);
            }
            total += (double) v * LANES;
        }
        return total;
    }

    /** Flops of one {@link #fmaChains} call: an FMA counts as 2. */
    public static double fmaChainsFlops(int iterations) {
        return 2.0 * iterations * FMA_CHAINS * LANES;
    }

    /** Lane sum in {@code double}, so a long sum of small integers stays exact. */
    private static double laneSum(FloatVector v) {
        double s = 0;
        for (float f : v.toArray()) {
            s += f;
        }
        return s;
    }
}
