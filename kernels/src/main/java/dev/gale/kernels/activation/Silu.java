package dev.gale.kernels.activation;

import static dev.gale.kernels.activation.Operands.F32;
import static dev.gale.kernels.activation.Operands.ORDER;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * SiLU (swish): {@code y = x·σ(x)} element-wise over {@code n} F32. SiLU(−Inf) = −0 (the limit), SiLU(+Inf) = +Inf,
 * SiLU(NaN) = NaN. {@code out} may be {@code x} at the same offset.
 */
public final class Silu {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private Silu() {
    }

    /** The scalar reference, in double. */
    public static void reference(MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        check(x, xOff, out, outOff, n);
        for (long i = 0; i < n; i++) {
            out.set(F32, outOff + 4 * i, (float) silu(x.get(F32, xOff + 4 * i)));
        }
    }

    /** SiLU in double: x·σ(x) with the −Inf limit. */
    static double silu(double x) {
        if (x == Double.NEGATIVE_INFINITY) {
            return -0.0;
        }
        return x / (1 + Math.exp(-x));
    }

    /** Vector API implementation on the calling thread. Allocates nothing. */
    public static void apply(MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        check(x, xOff, out, outOff, n);
        range(x, xOff, out, outOff, 0, n);
    }

    /** Split in 16 Ki-element blocks over {@link WorkerPool#shared()}; one small capture object per call. */
    public static void applyParallel(MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        check(x, xOff, out, outOff, n);
        WorkerPool.shared().parallelFor(Operands.blocks(n), Operands.BLOCK_GRAIN, (s, e) -> range(x, xOff, out,
                outOff, (long) s * Operands.BLOCK, Math.min(n, (long) e * Operands.BLOCK)));
    }

    private static void check(MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        Operands.requireF32("silu", "x", x, xOff, n);
        Operands.requireF32("silu", "out", out, outOff, n);
    }

    private static void range(MemorySegment x, long xOff, MemorySegment out, long outOff, long from, long to) {
        long i = from;
        long bound = from + F.loopBound(to - from);
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, xOff + 4 * i, ORDER);
            v.max(-Float.MAX_VALUE).mul(VectorMath.sigmoid(v)).intoMemorySegment(out, outOff + 4 * i, ORDER);
        }
        for (; i < to; i++) {
            float v = x.get(F32, xOff + 4 * i);
            out.set(F32, outOff + 4 * i, Math.max(v, -Float.MAX_VALUE) * VectorMath.sigmoid(v));
        }
    }
}
