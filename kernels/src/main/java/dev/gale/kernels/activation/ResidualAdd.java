package dev.gale.kernels.activation;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Residual add over {@code n} F32: in place {@code acc += r}, or out of place {@code out = a + b}. The result is the
 * correctly rounded F32 sum, so the vector path equals the reference bit for bit. {@code out} may be {@code a} or
 * {@code b} at the same offset.
 */
public final class ResidualAdd {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private ResidualAdd() {
    }

    /** The scalar reference: {@code out[i] = a[i] + b[i]}. */
    public static void reference(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out,
            long outOff, long n) {
        check(a, aOff, b, bOff, out, outOff, n);
        for (long i = 0; i < n; i++) {
            out.set(F32, outOff + 4 * i, a.get(F32, aOff + 4 * i) + b.get(F32, bOff + 4 * i));
        }
    }

    /** In place: {@code acc[i] += r[i]}, vector path on the calling thread. */
    public static void addInPlace(MemorySegment acc, long accOff, MemorySegment r, long rOff, long n) {
        apply(acc, accOff, r, rOff, acc, accOff, n);
    }

    /** Out of place: {@code out[i] = a[i] + b[i]}, vector path on the calling thread. Allocates nothing. */
    public static void apply(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out, long outOff,
            long n) {
        check(a, aOff, b, bOff, out, outOff, n);
        range(a, aOff, b, bOff, out, outOff, 0, n);
    }

    /**
     * Split in 16 Ki-element blocks over {@link WorkerPool#shared()}; one small capture object per call. The segments
     * must be readable from the pool's threads (a shared, global or auto arena, not a confined one).
     */
    public static void applyParallel(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out,
            long outOff, long n) {
        check(a, aOff, b, bOff, out, outOff, n);
        WorkerPool.shared().parallelFor(Operands.blocks(n), Operands.BLOCK_GRAIN, (s, e) -> range(a, aOff, b, bOff,
                out, outOff, (long) s * Operands.BLOCK, Math.min(n, (long) e * Operands.BLOCK)));
    }

    private static void check(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out,
            long outOff, long n) {
        Operands.requireF32("residual_add", "a", a, aOff, n);
        Operands.requireF32("residual_add", "b", b, bOff, n);
        Operands.requireF32("residual_add", "out", out, outOff, n);
    }

    private static void range(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out,
            long outOff, long from, long to) {
        for (long s = from; s < to; s += Operands.INNER) {
            block(a, aOff, b, bOff, out, outOff, s, Math.min(to, s + Operands.INNER));
        }
    }

    private static void block(MemorySegment a, long aOff, MemorySegment b, long bOff, MemorySegment out,
            long outOff, long from, long to) {
        long i = from;
        long bound = from + F.loopBound(to - from);
        for (; i < bound; i += L) {
            FloatVector.fromMemorySegment(F, a, aOff + 4 * i, ORDER)
                    .add(FloatVector.fromMemorySegment(F, b, bOff + 4 * i, ORDER))
                    .intoMemorySegment(out, outOff + 4 * i, ORDER);
        }
        for (; i < to; i++) {
            out.set(F32, outOff + 4 * i, a.get(F32, aOff + 4 * i) + b.get(F32, bOff + 4 * i));
        }
    }
}
