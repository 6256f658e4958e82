package dev.gale.kernels.activation;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised transcendental functions shared by the element-wise ops, each with a scalar twin that runs the same
 * operations in the same order (so loop tails give the bit-identical result the vector lanes would).
 *
 * <p><b>exp</b>: Cody–Waite range reduction {@code x = n·ln2 + r}, |r| ≤ ln2/2, with ln2 split in a high part exact in
 * a few bits and a low correction; {@code e^r ≈ 1 + r + r²·P(r)} with a degree-5 polynomial fitted for this class
 * (truncation error 6e-11, far below F32 rounding); then {@code 2^n} built from exponent bits. The scale is applied as
 * two factors {@code 2^⌊n/2⌋·2^(n−⌊n/2⌋)}, both normal numbers, so results in the subnormal range are rounded once
 * (no garbage, no flush) and results above FLT_MAX become +Inf. The input is clamped to [-104, 89]: -Inf and anything
 * below -103.97 give exactly 0, +Inf gives +Inf, NaN gives NaN. Measured maximum relative error over a dense sweep of
 * the normal-result range: see {@code VectorMathTest} (about 2 ulp).
 *
 * <p><b>erf</b>: for |x| ≤ 1, {@code x·P(x²)} (degree 6 in x²); for 1 < |x| ≤ 4,
 * {@code 1 − e^{−x²}·Q(1/|x|)} with Q a fit of {@code erfc(a)·e^{a²}} (degree 10 on (1, 4], degree 5 on (4, 10.2]; the
 * coefficients were fitted for this class by weighted least squares at Chebyshev nodes), and x² carried as an exact
 * hi+lo pair so that e^{−x²} does not lose the rounding of x². Measured absolute error
 * about 1e-7 (a couple of ulp of the result); {@link #onePlusErf} returns {@code 1 + erf(x)} without the cancellation
 * for negative x, which GELU needs.
 *
 * <p>The vector methods here are the definitions, and what the accuracy tests sweep. The ops (softmax, SiLU,
 * SwiGLU, GELU) do not call them: they write the same operations out inside their loops. A {@code FloatVector}
 * passed to or returned from a method that C2 does not inline is boxed on every call, and C2 does decline these
 * (observed: "callee is too large" when the call site is not yet hot, "NodeCountInliningCutoff" in big loop bodies),
 * which made a softmax allocate ~2 KB and run ~50x slower per call. The ops' own tests and zero-allocation tests
 * cover the written-out copies; the constants are shared from here (the exp constants are public for the ops of
 * other packages, e.g. attention, that write the exp out the same way).
 */
public final class VectorMath {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    public static final float EXP_LO = -104f;
    public static final float EXP_HI = 89f;
    public static final float LOG2E = 1.44269504088896341f;
    /** 1.5·2^23: adding it rounds to an integer held in the low mantissa bits. */
    public static final float SHIFTER = 0x1.8p23f;
    public static final int SHIFTER_BITS = 0x4B400000;
    /** ln 2 split: the high part has 9 significant bits, so n·LN2_HI is exact for |n| ≤ 2^15. */
    public static final float LN2_HI = 0.693359375f;
    public static final float LN2_LO = -2.12194440e-4f;
    public static final float E0 = 5.000000078e-01f;
    public static final float E1 = 1.666666616e-01f;
    public static final float E2 = 4.166627023e-02f;
    public static final float E3 = 8.333429977e-03f;
    public static final float E4 = 1.394602444e-03f;
    public static final float E5 = 1.982650213e-04f;

    static final float A0 = 1.128379166e+00f;
    static final float A1 = -3.761262557e-01f;
    static final float A2 = 1.128358228e-01f;
    static final float A3 = -2.685369186e-02f;
    static final float A4 = 5.188099769e-03f;
    static final float A5 = -8.008193334e-04f;
    static final float A6 = 7.847262427e-05f;

    static final float B_CENTER = 0.625f;
    static final float B0 = 3.059529926e-01f;
    static final float B1 = 3.822837715e-01f;
    static final float B2 = -1.723948816e-01f;
    static final float B3 = 4.376696030e-02f;
    static final float B4 = 2.333700174e-02f;
    static final float B5 = -4.694359651e-02f;
    static final float B6 = 4.309275834e-02f;
    static final float B7 = -2.691489438e-02f;
    static final float B8 = 5.668019909e-03f;
    static final float B9 = 2.599439062e-02f;
    static final float B10 = -3.633093084e-02f;
    static final float T_CENTER = 0.17f;
    static final float T0 = 9.458242336e-02f;
    static final float T1 = 5.413405254e-01f;
    static final float T2 = -1.257665811e-01f;
    static final float T3 = -1.848096731e-01f;
    static final float T4 = 2.233267365e-01f;
    static final float T5 = 5.445359919e-02f;
    static final float ERF_SPLIT = 1f;
    static final float ERFC_SPLIT = 4f;
    /** e^{-a²} is below half the smallest subnormal beyond this: erfc is 0 in F32. */
    static final float ERFC_MAX = 10.2f;

    private VectorMath() {
    }

    /** A broadcast constant (C2 hoists it out of the caller's loop). */
    private static FloatVector c(float v) {
        return FloatVector.broadcast(F, v);
    }

    /** e^x lane-wise; see the class comment for the special values. */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(EXP_LO).min(EXP_HI);
        FloatVector t = xc.fma(LOG2E, SHIFTER);
        FloatVector n = t.sub(SHIFTER);
        IntVector ni = ((IntVector) t.reinterpretAsInts()).sub(SHIFTER_BITS);
        FloatVector r = n.fma(c(-LN2_HI), xc);
        r = n.fma(c(-LN2_LO), r);
        FloatVector p = r.fma(E5, E4);
        p = p.fma(r, c(E3));
        p = p.fma(r, c(E2));
        p = p.fma(r, c(E1));
        p = p.fma(r, c(E0));
        FloatVector y = p.fma(r.mul(r), r).add(1f);
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1);
        IntVector n2 = ni.sub(n1);
        FloatVector s1 = (FloatVector) n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = (FloatVector) n2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(s1).mul(s2);
    }

    /** The scalar twin of {@link #exp(FloatVector)}: the same operations, so the same result bit for bit. */
    public static float exp(float x) {
        float xc = Math.min(Math.max(x, EXP_LO), EXP_HI);
        float t = Math.fma(xc, LOG2E, SHIFTER);
        float n = t - SHIFTER;
        int ni = Float.floatToRawIntBits(t) - SHIFTER_BITS;
        float r = Math.fma(n, -LN2_HI, xc);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, E5, E4);
        p = Math.fma(p, r, E3);
        p = Math.fma(p, r, E2);
        p = Math.fma(p, r, E1);
        p = Math.fma(p, r, E0);
        float y = Math.fma(p, r * r, r) + 1f;
        int n1 = ni >> 1;
        int n2 = ni - n1;
        return y * Float.intBitsToFloat((n1 + 127) << 23) * Float.intBitsToFloat((n2 + 127) << 23);
    }

    /**
     * The logistic function σ(x) = 1/(1 + e^{−x}) lane-wise, evaluated as {@code 1/(1+t)} or {@code t/(1+t)} with
     * {@code t = e^{−|x|}}, so e^{−x} never overflows and σ of a large negative x keeps its relative accuracy
     * (down to the subnormal range). σ(−Inf) = 0, σ(+Inf) = 1, σ(NaN) = NaN.
     */
    public static FloatVector sigmoid(FloatVector x) {
        FloatVector t = exp(x.abs().neg());
        FloatVector num = t.broadcast(1f).blend(t, x.compare(VectorOperators.LT, 0f));
        return num.div(t.add(1f));
    }

    /** The scalar twin of {@link #sigmoid(FloatVector)}. */
    public static float sigmoid(float x) {
        float t = exp(-Math.abs(x));
        return (x < 0f ? t : 1f) / (t + 1f);
    }

    /** erf(x) lane-wise; erf(±Inf) = ±1, erf(NaN) = NaN, the sign of zero is kept. */
    public static FloatVector erf(FloatVector x) {
        FloatVector a = x.abs();
        FloatVector small = erfSmall(a);
        FloatVector large = erfcLarge(a).neg().add(1f);
        FloatVector e = small.blend(large, a.compare(VectorOperators.GT, ERF_SPLIT));
        IntVector sign = ((IntVector) x.reinterpretAsInts()).and(0x80000000);
        return (FloatVector) ((IntVector) e.reinterpretAsInts()).or(sign).reinterpretAsFloats();
    }

    /** The scalar twin of {@link #erf(FloatVector)}. */
    public static float erf(float x) {
        float a = Math.abs(x);
        float e = a > ERF_SPLIT ? 1f - erfcLarge(a) : erfSmall(a);
        return Math.copySign(e, x);
    }

    /**
     * {@code 1 + erf(x)} lane-wise, accurate in relative terms for negative x too (it is {@code erfc(|x|)} there,
     * never {@code 1 − erf(|x|)} formed by cancellation beyond |x| = 1).
     */
    public static FloatVector onePlusErf(FloatVector x) {
        FloatVector a = x.abs();
        FloatVector small = erfSmall(a);
        FloatVector c = erfcLarge(a);
        var isLarge = a.compare(VectorOperators.GT, ERF_SPLIT);
        FloatVector e = small.blend(c.neg().add(1f), isLarge);
        FloatVector erfc = small.neg().add(1f).blend(c, isLarge);
        return e.add(1f).blend(erfc, x.compare(VectorOperators.LT, 0f));
    }

    /** The scalar twin of {@link #onePlusErf(FloatVector)}. */
    public static float onePlusErf(float x) {
        float a = Math.abs(x);
        float e;
        float erfc;
        if (a > ERF_SPLIT) {
            erfc = erfcLarge(a);
            e = 1f - erfc;
        } else {
            e = erfSmall(a);
            erfc = 1f - e;
        }
        return x < 0f ? erfc : e + 1f;
    }

    private static FloatVector erfSmall(FloatVector a) {
        FloatVector s = a.mul(a);
        FloatVector p = s.fma(A6, A5);
        p = p.fma(s, c(A4));
        p = p.fma(s, c(A3));
        p = p.fma(s, c(A2));
        p = p.fma(s, c(A1));
        p = p.fma(s, c(A0));
        return p.mul(a);
    }

    private static float erfSmall(float a) {
        float s = a * a;
        float p = Math.fma(s, A6, A5);
        p = Math.fma(p, s, A4);
        p = Math.fma(p, s, A3);
        p = Math.fma(p, s, A2);
        p = Math.fma(p, s, A1);
        p = Math.fma(p, s, A0);
        return p * a;
    }

    /**
     * erfc(a) for a > 1 (a is clamped into [1, 10.2]; erfc is 0 in F32 beyond): {@code e^{-a²}·Q(1/a)} with Q one
     * polynomial on (1, 4] and another on (4, 10.2].
     */
    private static FloatVector erfcLarge(FloatVector a) {
        FloatVector ac = a.max(ERF_SPLIT).min(ERFC_MAX);
        FloatVector u = ac.broadcast(1f).div(ac);
        FloatVector w = u.sub(B_CENTER);
        FloatVector q = w.fma(B10, B9);
        q = q.fma(w, c(B8));
        q = q.fma(w, c(B7));
        q = q.fma(w, c(B6));
        q = q.fma(w, c(B5));
        q = q.fma(w, c(B4));
        q = q.fma(w, c(B3));
        q = q.fma(w, c(B2));
        q = q.fma(w, c(B1));
        q = q.fma(w, c(B0));
        FloatVector v = u.sub(T_CENTER);
        FloatVector qt = v.fma(T5, T4);
        qt = qt.fma(v, c(T3));
        qt = qt.fma(v, c(T2));
        qt = qt.fma(v, c(T1));
        qt = qt.fma(v, c(T0));
        q = q.blend(qt, ac.compare(VectorOperators.GT, ERFC_SPLIT));
        FloatVector hi = ac.mul(ac);
        FloatVector lo = ac.fma(ac, hi.neg());
        // e^{-(hi+lo)} = e^{-hi}·(1 − lo + …), |lo| ≤ 2^-17: one term is enough.
        FloatVector g = exp(hi.neg()).mul(lo.neg().add(1f));
        return g.mul(q);
    }

    private static float erfcLarge(float a) {
        float ac = Math.min(Math.max(a, ERF_SPLIT), ERFC_MAX);
        float u = 1f / ac;
        float q;
        if (ac > ERFC_SPLIT) {
            float v = u - T_CENTER;
            q = Math.fma(v, T5, T4);
            q = Math.fma(q, v, T3);
            q = Math.fma(q, v, T2);
            q = Math.fma(q, v, T1);
            q = Math.fma(q, v, T0);
        } else {
            float w = u - B_CENTER;
            q = Math.fma(w, B10, B9);
            q = Math.fma(q, w, B8);
            q = Math.fma(q, w, B7);
            q = Math.fma(q, w, B6);
            q = Math.fma(q, w, B5);
            q = Math.fma(q, w, B4);
            q = Math.fma(q, w, B3);
            q = Math.fma(q, w, B2);
            q = Math.fma(q, w, B1);
            q = Math.fma(q, w, B0);
        }
        float hi = ac * ac;
        float lo = Math.fma(ac, ac, -hi);
        float g = exp(-hi) * (1f - lo);
        return g * q;
    }
}
