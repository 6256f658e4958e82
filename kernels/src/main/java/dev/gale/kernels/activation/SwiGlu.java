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
 * SwiGLU's gating: {@code out = silu(gate) · up} element-wise over {@code n} F32 (the FFN's hidden width, times the
 * number of tokens for a batch). {@code out} may be {@code gate} or {@code up} at the same offset.
 */
public final class SwiGlu {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private SwiGlu() {
    }

    /** The scalar reference, in double. */
    public static void reference(MemorySegment gate, long gateOff, MemorySegment up, long upOff, MemorySegment out,
            long outOff, long n) {
        check(gate, gateOff, up, upOff, out, outOff, n);
        for (long i = 0; i < n; i++) {
            double g = Silu.silu(gate.get(F32, gateOff + 4 * i));
            out.set(F32, outOff + 4 * i, (float) (g * up.get(F32, upOff + 4 * i)));
        }
    }

    /** Vector API implementation on the calling thread. Allocates nothing. */
    public static void apply(MemorySegment gate, long gateOff, MemorySegment up, long upOff, MemorySegment out,
            long outOff, long n) {
        check(gate, gateOff, up, upOff, out, outOff, n);
        range(gate, gateOff, up, upOff, out, outOff, 0, n);
    }

    /**
     * Split in 16 Ki-element blocks over {@link WorkerPool#shared()}; one small capture object per call. The segments
     * must be readable from the pool's threads (a shared, global or auto arena, not a confined one).
     */
    public static void applyParallel(MemorySegment gate, long gateOff, MemorySegment up, long upOff,
            MemorySegment out, long outOff, long n) {
        check(gate, gateOff, up, upOff, out, outOff, n);
        WorkerPool.shared().parallelFor(Operands.blocks(n), Operands.BLOCK_GRAIN, (s, e) -> range(gate, gateOff, up,
                upOff, out, outOff, (long) s * Operands.BLOCK, Math.min(n, (long) e * Operands.BLOCK)));
    }

    private static void check(MemorySegment gate, long gateOff, MemorySegment up, long upOff, MemorySegment out,
            long outOff, long n) {
        Operands.requireF32("swiglu", "gate", gate, gateOff, n);
        Operands.requireF32("swiglu", "up", up, upOff, n);
        Operands.requireF32("swiglu", "out", out, outOff, n);
    }

    private static void range(MemorySegment gate, long gateOff, MemorySegment up, long upOff, MemorySegment out,
            long outOff, long from, long to) {
        for (long s = from; s < to; s += Operands.INNER) {
            block(gate, gateOff, up, upOff, out, outOff, s, Math.min(to, s + Operands.INNER));
        }
    }

    private static void block(MemorySegment gate, long gateOff, MemorySegment up, long upOff, MemorySegment out,
            long outOff, long from, long to) {
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
            FloatVector g = FloatVector.fromMemorySegment(F, gate, gateOff + 4 * i, ORDER);
            FloatVector u = FloatVector.fromMemorySegment(F, up, upOff + 4 * i, ORDER);
            // σ(g) = (g < 0 ? t : 1) / (1 + t), t = e^{−|g|}: VectorMath.sigmoid.
            FloatVector tX = g.abs().neg().max(VectorMath.EXP_LO).min(VectorMath.EXP_HI);
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
            FloatVector sig = one.blend(t, g.compare(VectorOperators.LT, 0f)).div(t.add(1f));
            g.max(-Float.MAX_VALUE).mul(sig).mul(u).intoMemorySegment(out, outOff + 4 * i, ORDER);
        }
        for (; i < to; i++) {
            float g = gate.get(F32, gateOff + 4 * i);
            float s = Math.max(g, -Float.MAX_VALUE) * VectorMath.sigmoid(g);
            out.set(F32, outOff + 4 * i, s * up.get(F32, upOff + 4 * i));
        }
    }
}
