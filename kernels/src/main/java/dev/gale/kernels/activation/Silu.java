package dev.gale.kernels.activation;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
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

    /**
     * Split in 16 Ki-element blocks over {@link WorkerPool#shared()}; one small capture object per call. The segments
     * must be readable from the pool's threads (a shared, global or auto arena, not a confined one).
     */
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
        for (long s = from; s < to; s += Operands.INNER) {
            block(x, xOff, out, outOff, s, Math.min(to, s + Operands.INNER));
        }
    }

    private static void block(MemorySegment x, long xOff, MemorySegment out, long outOff, long from, long to) {
        long i = from;
        long bound = from + F.loopBound(to - from);
        // VectorMath.exp written out in the loop (no FloatVector crosses a call: C2 may decline to inline a callee
        // that large, and a non-inlined vector method boxes on every call). Same operations, same bits.
        FloatVector vLn2Hi = FloatVector.broadcast(F, -VectorMath.LN2_HI);
        FloatVector vLn2Lo = FloatVector.broadcast(F, -VectorMath.LN2_LO);
        FloatVector vE0 = FloatVector.broadcast(F, VectorMath.E0);
        FloatVector vE1 = FloatVector.broadcast(F, VectorMath.E1);
        FloatVector vE2 = FloatVector.broadcast(F, VectorMath.E2);
        FloatVector vE3 = FloatVector.broadcast(F, VectorMath.E3);
        FloatVector one = FloatVector.broadcast(F, 1f);
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, xOff + 4 * i, ORDER);
            // σ(v) = (v < 0 ? t : 1) / (1 + t), t = e^{−|v|}: VectorMath.sigmoid.
            FloatVector tX = v.abs().neg().max(VectorMath.EXP_LO).min(VectorMath.EXP_HI);
            FloatVector tT = tX.fma(VectorMath.LOG2E, VectorMath.SHIFTER);
            FloatVector tN = tT.sub(VectorMath.SHIFTER);
            IntVector tI = ((IntVector) tT.reinterpretAsInts()).sub(VectorMath.SHIFTER_BITS);
            FloatVector tR = tN.fma(vLn2Hi, tX);
            tR = tN.fma(vLn2Lo, tR);
            FloatVector tP = tR.fma(VectorMath.E5, VectorMath.E4);
            tP = tP.fma(tR, vE3);
            tP = tP.fma(tR, vE2);
            tP = tP.fma(tR, vE1);
            tP = tP.fma(tR, vE0);
            IntVector tI1 = tI.lanewise(VectorOperators.ASHR, 1);
            IntVector tI2 = tI.sub(tI1);
            FloatVector t = tP.fma(tR.mul(tR), tR).add(1f)
                    .mul((FloatVector) tI1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())
                    .mul((FloatVector) tI2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
            FloatVector sig = one.blend(t, v.compare(VectorOperators.LT, 0f)).div(t.add(1f));
            v.max(-Float.MAX_VALUE).mul(sig).intoMemorySegment(out, outOff + 4 * i, ORDER);
        }
        for (; i < to; i++) {
            float v = x.get(F32, xOff + 4 * i);
            out.set(F32, outOff + 4 * i, Math.max(v, -Float.MAX_VALUE) * VectorMath.sigmoid(v));
        }
    }
}
