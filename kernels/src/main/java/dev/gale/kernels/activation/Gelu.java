package dev.gale.kernels.activation;

import static dev.gale.kernels.activation.Operands.F32;
import static dev.gale.kernels.activation.Operands.ORDER;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
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

    /** Split in 16 Ki-element blocks over {@link WorkerPool#shared()}; one small capture object per call. */
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
        if (variant == Variant.ERF) {
            erfRange(x, xOff, out, outOff, from, to);
        } else {
            tanhRange(x, xOff, out, outOff, from, to);
        }
    }

    private static void erfRange(MemorySegment x, long xOff, MemorySegment out, long outOff, long from, long to) {
        long i = from;
        long bound = from + F.loopBound(to - from);
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, xOff + 4 * i, ORDER);
            FloatVector half = v.max(-Float.MAX_VALUE).mul(0.5f);
            half.mul(VectorMath.onePlusErf(v.mul(SQRT1_2))).intoMemorySegment(out, outOff + 4 * i, ORDER);
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
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, xOff + 4 * i, ORDER);
            FloatVector inner = v.mul(v).fma(TANH_C, 1f).mul(v).mul(TWO_SQRT_2_PI);
            v.max(-Float.MAX_VALUE).mul(VectorMath.sigmoid(inner)).intoMemorySegment(out, outOff + 4 * i, ORDER);
        }
        for (; i < to; i++) {
            float v = x.get(F32, xOff + 4 * i);
            float inner = Math.fma(v * v, TANH_C, 1f) * v * TWO_SQRT_2_PI;
            out.set(F32, outOff + 4 * i, Math.max(v, -Float.MAX_VALUE) * VectorMath.sigmoid(inner));
        }
    }
}
