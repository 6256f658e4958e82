package dev.gale.kernels.activation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Accuracy of the vectorised exp, erf and sigmoid over dense sweeps, and their special values. */
@Tag("vector")
class VectorMathTest {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** Applies a vector function over {@code x} (padded to whole vectors) and checks the scalar twin agrees bitwise. */
    private static float[] map(float[] x, UnaryOperator<FloatVector> vf, UnaryOperator<Float> sf) {
        int n = x.length;
        int padded = (n + F.length() - 1) / F.length() * F.length();
        float[] in = java.util.Arrays.copyOf(x, padded);
        float[] out = new float[padded];
        for (int i = 0; i < padded; i += F.length()) {
            vf.apply(FloatVector.fromArray(F, in, i)).intoArray(out, i);
        }
        for (int i = 0; i < n; i++) {
            float s = sf.apply(x[i]);
            assertEquals(Float.floatToIntBits(s), Float.floatToIntBits(out[i]),
                    () -> "scalar twin differs at x = " + x[0]);
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /** About {@code points} floats evenly spaced in bit-pattern order over [lo, hi]: a dense sweep at every scale. */
    private static float[] sweep(float lo, float hi, int points) {
        long a = ordinal(lo);
        long b = ordinal(hi);
        long stride = Math.max(1, (b - a) / points);
        float[] out = new float[(int) ((b - a) / stride + 1)];
        for (int i = 0; i < out.length; i++) {
            out[i] = fromOrdinal(a + i * stride);
        }
        return out;
    }

    private static long ordinal(float f) {
        int bits = Float.floatToRawIntBits(f);
        return bits >= 0 ? bits : -(long) (bits & 0x7fffffff);
    }

    private static float fromOrdinal(long o) {
        return o >= 0 ? Float.intBitsToFloat((int) o) : Float.intBitsToFloat((int) (-o) | 0x80000000);
    }

    @Test
    void expIsWithinAFewUlpOverItsNormalRange() {
        float[] x = sweep(-87.3f, 88.72f, 3_000_000);
        float[] y = map(x, VectorMath::exp, VectorMath::exp);
        double max = 0;
        float worst = 0;
        for (int i = 0; i < x.length; i++) {
            double want = Math.exp(x[i]);
            double u = Math.abs(y[i] - want) / Math.ulp((float) want);
            if (u > max) {
                max = u;
                worst = x[i];
            }
        }
        System.out.printf("exp: %d points, max error %.3f ulp at x = %s%n", x.length, max, worst);
        assertTrue(max <= 3, "exp max error " + max + " ulp at " + worst);
    }

    @Test
    void expSpecialValues() {
        float[] x = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, -104f, -200f, -1e30f, 89f, 100f,
                1e30f, 0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, 88.72f, -87.5f, -95f, -100f, -103f};
        float[] y = map(x, VectorMath::exp, VectorMath::exp);
        assertEquals(0f, y[0]);
        assertEquals(Float.POSITIVE_INFINITY, y[1]);
        assertTrue(Float.isNaN(y[2]));
        assertEquals(0f, y[3]);
        assertEquals(0f, y[4]);
        assertEquals(0f, y[5]);
        assertEquals(Float.POSITIVE_INFINITY, y[6]);
        assertEquals(Float.POSITIVE_INFINITY, y[7]);
        assertEquals(Float.POSITIVE_INFINITY, y[8]);
        assertEquals(1f, y[9]);
        assertEquals(1f, y[10]);
        assertEquals(1f, y[11]);
        assertEquals(1f, y[12]);
        assertTrue(Float.isFinite(y[13]) && Math.abs(y[13] / Math.exp((double) x[13]) - 1) < 4e-7);
        // Subnormal results: rounded once from the polynomial, so within a subnormal ulp (plus the polynomial's
        // relative error on the larger ones).
        for (int i = 14; i < x.length; i++) {
            double want = Math.exp(x[i]);
            double err = Math.abs(y[i] - want);
            assertTrue(err <= Float.MIN_VALUE + 4e-7 * want, "exp(" + x[i] + ") = " + y[i] + " want " + want);
        }
    }

    @Test
    void erfIsAccurateOverAllOfItsRange() {
        float[] x = sweep(-7f, 7f, 2_000_000);
        float[] y = map(x, VectorMath::erf, VectorMath::erf);
        double maxAbs = 0;
        double maxUlp = 0;
        float worst = 0;
        for (int i = 0; i < x.length; i++) {
            double want = DoubleErf.erf(x[i]);
            double err = Math.abs(y[i] - want);
            maxAbs = Math.max(maxAbs, err);
            double u = err / Math.ulp((float) want);
            if (u > maxUlp) {
                maxUlp = u;
                worst = x[i];
            }
        }
        System.out.printf("erf: %d points, max abs error %.3g, max %.3f ulp at x = %s%n", x.length, maxAbs, maxUlp,
                worst);
        assertTrue(maxAbs <= 1.5e-7, "erf max abs error " + maxAbs);
        assertTrue(maxUlp <= 4, "erf max error " + maxUlp + " ulp at " + worst);
        float[] s = map(new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, 0f,
                Float.MIN_VALUE}, VectorMath::erf, VectorMath::erf);
        assertTrue(Float.isNaN(s[0]));
        assertEquals(1f, s[1]);
        assertEquals(-1f, s[2]);
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(s[3]));
        assertEquals(0f, s[4]);
        assertTrue(s[5] >= 0f);
    }

    @Test
    void onePlusErfKeepsRelativeAccuracyOnTheNegativeSide() {
        float[] x = sweep(-10f, 6f, 2_000_000);
        float[] y = map(x, VectorMath::onePlusErf, VectorMath::onePlusErf);
        double maxRel = 0;
        float worst = 0;
        for (int i = 0; i < x.length; i++) {
            double want = x[i] < 0 ? DoubleErf.erfc(-x[i]) : 1 + DoubleErf.erf(x[i]);
            if (want < Float.MIN_NORMAL) {
                assertTrue(Math.abs(y[i] - want) <= 2 * Float.MIN_VALUE, "1+erf(" + x[i] + ") = " + y[i]);
                continue;
            }
            double rel = Math.abs(y[i] - want) / want;
            if (rel > maxRel) {
                maxRel = rel;
                worst = x[i];
            }
        }
        System.out.printf("1+erf: %d points, max relative error %.3g at x = %s%n", x.length, maxRel, worst);
        assertTrue(maxRel <= 1e-6, "1+erf relative error " + maxRel + " at " + worst);
        float[] s = map(new float[] {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN},
                VectorMath::onePlusErf, VectorMath::onePlusErf);
        assertEquals(0f, s[0]);
        assertEquals(2f, s[1]);
        assertTrue(Float.isNaN(s[2]));
    }

    @Test
    void sigmoidIsRelativelyAccurateIntoTheTail() {
        float[] x = sweep(-100f, 30f, 1_000_000);
        float[] y = map(x, VectorMath::sigmoid, VectorMath::sigmoid);
        double maxRel = 0;
        for (int i = 0; i < x.length; i++) {
            double want = 1 / (1 + Math.exp(-(double) x[i]));
            if (want < Float.MIN_NORMAL) {
                assertTrue(Math.abs(y[i] - want) <= Float.MIN_VALUE + 1e-6 * want);
                continue;
            }
            maxRel = Math.max(maxRel, Math.abs(y[i] - want) / want);
        }
        System.out.printf("sigmoid: max relative error %.3g%n", maxRel);
        assertTrue(maxRel <= 1e-6, "sigmoid relative error " + maxRel);
        float[] s = map(new float[] {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN},
                VectorMath::sigmoid, VectorMath::sigmoid);
        assertEquals(0f, s[0]);
        assertEquals(1f, s[1]);
        assertTrue(Float.isNaN(s[2]));
    }
}
