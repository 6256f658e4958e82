package dev.gale.bench.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Q8_0 decode GEMV as it was before Q8_0Packed's interleaved, shift-widened layout, kept only as the baseline
 * {@link Q8GemvCeiling} times it against in the same process: quants (128 bytes per 4-row group-block, element order)
 * and F32 scales (16 bytes) in two separate streams, weight bytes widened by a byte→float {@code convertShape} from
 * a quarter-width load (a lane-crossing {@code vpmovsxbd} on AVX2). F32 activations, one token; writes each group's
 * 4 row sums into {@code y}.
 */
final class Q8GemvBefore {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(Math.max(64, I.vectorBitSize() / 4)));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final int QK = 32;

    private final int rows;
    private final int nb;
    private final MemorySegment quants;
    private final MemorySegment scales;

    private Q8GemvBefore(int rows, int nb, MemorySegment quants, MemorySegment scales) {
        this.rows = rows;
        this.nb = nb;
        this.quants = quants;
        this.scales = scales;
    }

    /** Repacks llama.cpp Q8_0 rows at offset 0 of {@code w} into the two-stream layout. */
    static Q8GemvBefore pack(MemorySegment w, int rows, int in, SegmentAllocator a) {
        int nb = in / QK;
        int groups = (rows + 3) / 4;
        MemorySegment q = a.allocate((long) groups * nb * 128, 64);
        MemorySegment s = a.allocate((long) groups * nb * 16, 64);
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < nb; b++) {
                long gb = (long) (r / 4) * nb + b;
                long o = (long) r * 34 * nb + 34L * b;
                s.set(F32, gb * 16 + 4L * (r % 4), Float.float16ToFloat(w.get(I16, o)));
                MemorySegment.copy(w, o + 2, q, gb * 128 + 32L * (r % 4), QK);
            }
        }
        return new Q8GemvBefore(rows, nb, q, s);
    }

    long byteSize() {
        return quants.byteSize() + scales.byteSize();
    }

    /** Rows {@code [r0, r1)} (multiples of 4, or the end) of {@code y = W·x}. */
    void matmulF32(MemorySegment x, MemorySegment y, int r0, int r1) {
        for (int g = r0 / 4; 4 * g < r1; g++) {
            group(g, x, y);
        }
    }

    private void group(int g, MemorySegment x, MemorySegment y) {
        MemorySegment q = quants;
        MemorySegment s = scales;
        long q0 = (long) g * nb * 128;
        long s0 = (long) g * nb * 16;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        for (int b = 0; b < nb; b++) {
            long qb = q0 + (long) b * 128;
            long xb = 4L * b * QK;
            FloatVector xv0 = FloatVector.fromMemorySegment(F, x, xb, LE);
            FloatVector p0 = widen(q, qb).mul(xv0);
            FloatVector p1 = widen(q, qb + 32).mul(xv0);
            FloatVector p2 = widen(q, qb + 64).mul(xv0);
            FloatVector p3 = widen(q, qb + 96).mul(xv0);
            for (int j = L; j < QK; j += L) {
                FloatVector xv = FloatVector.fromMemorySegment(F, x, xb + 4L * j, LE);
                p0 = widen(q, qb + j).lanewise(VectorOperators.FMA, xv, p0);
                p1 = widen(q, qb + 32 + j).lanewise(VectorOperators.FMA, xv, p1);
                p2 = widen(q, qb + 64 + j).lanewise(VectorOperators.FMA, xv, p2);
                p3 = widen(q, qb + 96 + j).lanewise(VectorOperators.FMA, xv, p3);
            }
            long sb = s0 + (long) b * 16;
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb)), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 4)), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 8)), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s.get(F32, sb + 12)), acc3);
        }
        long yo = 16L * g;
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
        if (4 * g + 1 < rows) {
            y.set(F32, yo + 4, acc1.reduceLanes(VectorOperators.ADD));
        }
        if (4 * g + 2 < rows) {
            y.set(F32, yo + 8, acc2.reduceLanes(VectorOperators.ADD));
        }
        if (4 * g + 3 < rows) {
            y.set(F32, yo + 12, acc3.reduceLanes(VectorOperators.ADD));
        }
    }

    private static FloatVector widen(MemorySegment q, long o) {
        return (FloatVector) ByteVector.fromMemorySegment(B, q, o, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    /** Sum of the ints in bytes {@code [from, to)}: a plain sequential read of the same bytes, for comparison. */
    static long stream(MemorySegment q, long from, long to) {
        IntVector a0 = IntVector.zero(I);
        IntVector a1 = a0;
        IntVector a2 = a0;
        IntVector a3 = a0;
        long v = I.vectorByteSize();
        for (long o = from; o + 4 * v <= to; o += 4 * v) {
            a0 = a0.add(IntVector.fromMemorySegment(I, q, o, LE));
            a1 = a1.add(IntVector.fromMemorySegment(I, q, o + v, LE));
            a2 = a2.add(IntVector.fromMemorySegment(I, q, o + 2 * v, LE));
            a3 = a3.add(IntVector.fromMemorySegment(I, q, o + 3 * v, LE));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }
}
