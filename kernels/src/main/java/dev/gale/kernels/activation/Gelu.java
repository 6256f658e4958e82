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
 * GELU element-wise over {@code n} F32, in its two published forms:
 * <ul>
 *   <li>{@link Variant#ERF}: the exact {@code x·Φ(x) = ½·x·(1 + erf(x/√2))} (BERT, HF "gelu"), through
 *       {@link VectorMath#onePlusErf}, which is accurate in relative terms on the negative side too;</li>
 *   <li>{@link Variant#TANH}: {@code ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))} (GPT-2, HF "gelu_new"), evaluated
 *       through the identity {@code ½(1 + tanh u) = σ(2u)}, so it needs one exp and has no cancellation.</li>
 * </ul>
 * GELU(−Inf) = −0 (the limit), GELU(+Inf) = +Inf, GELU(NaN) = NaN. {@code out} may be {@code x} at the same offset.
 */
public final class Gelu {
    /** Which GELU formula. */
    public enum Variant {
        ERF,
        TANH
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final float SQRT1_2 = 0.70710678118654752f;
    /** 2·√(2/π): σ(2u) with u = √(2/π)(x + c·x³). */
    private static final float TWO_SQRT_2_PI = 1.5957691216057308f;
    private static final float TANH_C = 0.044715f;

    private Gelu() {
    }

    /** The scalar reference in double ({@code erf} from a double series / continued fraction, see below). */
    public static void reference(Variant variant, MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        check(variant, x, xOff, out, outOff, n);
        for (long i = 0; i < n; i++) {
            out.set(F32, outOff + 4 * i, (float) gelu(variant, x.get(F32, xOff + 4 * i)));
        }
    }

    /** GELU in double precision. */
    public static double gelu(Variant variant, double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        if (x == Double.NEGATIVE_INFINITY) {
            return -0.0;
        }
        if (x == Double.POSITIVE_INFINITY) {
            return x;
        }
        if (variant == Variant.ERF) {
            double z = x / Math.sqrt(2);
            return 0.5 * x * (z < 0 ? DoubleErf.erfc(-z) : 1 + DoubleErf.erf(z));
        }
        double u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
        // ½(1 + tanh u) = 1/(1 + e^{−2u}): the same function without the cancellation of 1 + tanh u near −1.
        return x / (1 + Math.exp(-2 * u));
    }

    /** Vector API implementation on the calling thread. Allocates nothing. */
    public static void apply(Variant variant, MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        check(variant, x, xOff, out, outOff, n);
        range(variant, x, xOff, out, outOff, 0, n);
    }

    /**
     * Split in 16 Ki-element blocks over {@link WorkerPool#shared()}; one small capture object per call. The segments
     * must be readable from the pool's threads (a shared, global or auto arena, not a confined one).
     */
    public static void applyParallel(Variant variant, MemorySegment x, long xOff, MemorySegment out, long outOff,
            long n) {
        check(variant, x, xOff, out, outOff, n);
        WorkerPool.shared().parallelFor(Operands.blocks(n), Operands.BLOCK_GRAIN, (s, e) -> range(variant, x, xOff,
                out, outOff, (long) s * Operands.BLOCK, Math.min(n, (long) e * Operands.BLOCK)));
    }

    private static void check(Variant variant, MemorySegment x, long xOff, MemorySegment out, long outOff, long n) {
        if (variant == null) {
            throw new IllegalArgumentException("gelu: variant is null");
        }
        Operands.requireF32("gelu", "x", x, xOff, n);
        Operands.requireF32("gelu", "out", out, outOff, n);
    }

    private static void range(Variant variant, MemorySegment x, long xOff, MemorySegment out, long outOff, long from,
            long to) {
        for (long s = from; s < to; s += Operands.INNER) {
            long e = Math.min(to, s + Operands.INNER);
            if (variant == Variant.ERF) {
                erfRange(x, xOff, out, outOff, s, e);
            } else {
                tanhRange(x, xOff, out, outOff, s, e);
            }
        }
    }

    private static void erfRange(MemorySegment x, long xOff, MemorySegment out, long outOff, long from, long to) {
        long i = from;
        long bound = from + F.loopBound(to - from);
        // VectorMath.onePlusErf (and the exp inside it) written out in the loop: no FloatVector crosses a call, so
        // nothing is boxed whatever C2's inlining budget decides. Same operations as VectorMath, same bits.
        FloatVector vLn2Hi = FloatVector.broadcast(F, -VectorMath.LN2_HI);
        FloatVector vLn2Lo = FloatVector.broadcast(F, -VectorMath.LN2_LO);
        FloatVector vE0 = FloatVector.broadcast(F, VectorMath.E0);
        FloatVector vE1 = FloatVector.broadcast(F, VectorMath.E1);
        FloatVector vE2 = FloatVector.broadcast(F, VectorMath.E2);
        FloatVector vE3 = FloatVector.broadcast(F, VectorMath.E3);
        FloatVector one = FloatVector.broadcast(F, 1f);
        FloatVector a0 = FloatVector.broadcast(F, VectorMath.A0);
        FloatVector a1 = FloatVector.broadcast(F, VectorMath.A1);
        FloatVector a2 = FloatVector.broadcast(F, VectorMath.A2);
        FloatVector a3 = FloatVector.broadcast(F, VectorMath.A3);
        FloatVector a4 = FloatVector.broadcast(F, VectorMath.A4);
        FloatVector b0 = FloatVector.broadcast(F, VectorMath.B0);
        FloatVector b1 = FloatVector.broadcast(F, VectorMath.B1);
        FloatVector b2 = FloatVector.broadcast(F, VectorMath.B2);
        FloatVector b3 = FloatVector.broadcast(F, VectorMath.B3);
        FloatVector b4 = FloatVector.broadcast(F, VectorMath.B4);
        FloatVector b5 = FloatVector.broadcast(F, VectorMath.B5);
        FloatVector b6 = FloatVector.broadcast(F, VectorMath.B6);
        FloatVector b7 = FloatVector.broadcast(F, VectorMath.B7);
        FloatVector b8 = FloatVector.broadcast(F, VectorMath.B8);
        FloatVector t0 = FloatVector.broadcast(F, VectorMath.T0);
        FloatVector t1 = FloatVector.broadcast(F, VectorMath.T1);
        FloatVector t2 = FloatVector.broadcast(F, VectorMath.T2);
        FloatVector t3 = FloatVector.broadcast(F, VectorMath.T3);
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, xOff + 4 * i, ORDER);
            FloatVector z = v.mul(SQRT1_2);
            FloatVector a = z.abs();
            // |z| ≤ 1: erf = a·P(a²).
            FloatVector s = a.mul(a);
            FloatVector small = s.fma(VectorMath.A6, VectorMath.A5);
            small = small.fma(s, a4);
            small = small.fma(s, a3);
            small = small.fma(s, a2);
            small = small.fma(s, a1);
            small = small.fma(s, a0);
            small = small.mul(a);
            // |z| > 1: erfc = e^{−a²}·Q(1/a), two fits split at a = 4.
            FloatVector ac = a.max(VectorMath.ERF_SPLIT).min(VectorMath.ERFC_MAX);
            FloatVector u = one.div(ac);
            FloatVector w = u.sub(VectorMath.B_CENTER);
            FloatVector q = w.fma(VectorMath.B10, VectorMath.B9);
            q = q.fma(w, b8);
            q = q.fma(w, b7);
            q = q.fma(w, b6);
            q = q.fma(w, b5);
            q = q.fma(w, b4);
            q = q.fma(w, b3);
            q = q.fma(w, b2);
            q = q.fma(w, b1);
            q = q.fma(w, b0);
            FloatVector tv = u.sub(VectorMath.T_CENTER);
            FloatVector qt = tv.fma(VectorMath.T5, VectorMath.T4);
            qt = qt.fma(tv, t3);
            qt = qt.fma(tv, t2);
            qt = qt.fma(tv, t1);
            qt = qt.fma(tv, t0);
            q = q.blend(qt, ac.compare(VectorOperators.GT, VectorMath.ERFC_SPLIT));
            FloatVector hi = ac.mul(ac);
            FloatVector lo = ac.fma(ac, hi.neg());
            FloatVector gX = hi.neg().max(VectorMath.EXP_LO).min(VectorMath.EXP_HI);
            FloatVector gT = gX.fma(VectorMath.LOG2E, VectorMath.SHIFTER);
            FloatVector gN = gT.sub(VectorMath.SHIFTER);
            IntVector gI = ((IntVector) gT.reinterpretAsInts()).sub(VectorMath.SHIFTER_BITS);
            FloatVector gR = gN.fma(vLn2Hi, gX);
            gR = gN.fma(vLn2Lo, gR);
            FloatVector gP = gR.fma(VectorMath.E5, VectorMath.E4);
            gP = gP.fma(gR, vE3);
            gP = gP.fma(gR, vE2);
            gP = gP.fma(gR, vE1);
            gP = gP.fma(gR, vE0);
            IntVector gI1 = gI.lanewise(VectorOperators.ASHR, 1);
            IntVector gI2 = gI.sub(gI1);
            FloatVector g = gP.fma(gR.mul(gR), gR).add(1f)
                    .mul((FloatVector) gI1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())
                    .mul((FloatVector) gI2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
            FloatVector c = g.mul(lo.neg().add(1f)).mul(q);
            var isLarge = a.compare(VectorOperators.GT, VectorMath.ERF_SPLIT);
            FloatVector e = small.blend(c.neg().add(1f), isLarge);
            FloatVector erfc = small.neg().add(1f).blend(c, isLarge);
            FloatVector onePlusErf = e.add(1f).blend(erfc, z.compare(VectorOperators.LT, 0f));
            v.max(-Float.MAX_VALUE).mul(0.5f).mul(onePlusErf).intoMemorySegment(out, outOff + 4 * i, ORDER);
        }
        for (; i < to; i++) {
            float v = x.get(F32, xOff + 4 * i);
            float half = Math.max(v, -Float.MAX_VALUE) * 0.5f;
            out.set(F32, outOff + 4 * i, half * VectorMath.onePlusErf(v * SQRT1_2));
        }
    }

    private static void tanhRange(MemorySegment x, long xOff, MemorySegment out, long outOff, long from, long to) {
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
            FloatVector inner = v.mul(v).fma(TANH_C, 1f).mul(v).mul(TWO_SQRT_2_PI);
            // σ(inner) = (inner < 0 ? t : 1) / (1 + t), t = e^{−|inner|}: VectorMath.sigmoid.
            FloatVector tX = inner.abs().neg().max(VectorMath.EXP_LO).min(VectorMath.EXP_HI);
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
            FloatVector sig = one.blend(t, inner.compare(VectorOperators.LT, 0f)).div(t.add(1f));
            v.max(-Float.MAX_VALUE).mul(sig).intoMemorySegment(out, outOff + 4 * i, ORDER);
        }
        for (; i < to; i++) {
            float v = x.get(F32, xOff + 4 * i);
            float inner = Math.fma(v * v, TANH_C, 1f) * v * TWO_SQRT_2_PI;
            out.set(F32, outOff + 4 * i, Math.max(v, -Float.MAX_VALUE) * VectorMath.sigmoid(inner));
        }
    }
}
