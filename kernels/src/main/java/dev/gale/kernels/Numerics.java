package dev.gale.kernels;

/**
 * Gale's one numerics contract, shared by every op's tests and by the cross-device suite.
 *
 * <p>Errors are measured relative to the size of the computation, never against a single absolute epsilon: for a
 * dot product {@code Σ a·b} the scale is {@code Σ |a·b|}, because cancellation can make the result itself tiny while
 * the rounding error stays proportional to the terms.
 */
public final class Numerics {
    /** F32 unit roundoff. */
    public static final double U_F32 = 0x1p-24;

    /**
     * Allowed error of an F32 path relative to its computation's scale (for example Σ|a·b|): "about 1e-5 relative"
     * as DESIGN.md states it.
     */
    public static final double F32_REL = 1e-5;

    private Numerics() {
    }

    /**
     * Error bound for an F32 dot product of length {@code n} whose exact value has scale {@code sumAbs = Σ|a·b|}.
     * Blocked (vector-lane) summation gives an error growing with about n/lanes + log2(lanes) roundings; the
     * contract's {@link #F32_REL} covers the realistic shapes, and very long rows get the rigorous
     * (n / 16 + 16)·u·Σ|a·b| bound when that is larger.
     */
    public static double dotBound(double sumAbs, long n) {
        double rigorous = (n / 16.0 + 16) * U_F32;
        return Math.max(F32_REL, rigorous) * sumAbs + Float.MIN_NORMAL;
    }

    /** |got − want| / scale, with 0/0 taken as 0 and NaN/Inf mismatches as +Inf. */
    public static double relError(double got, double want, double scale) {
        if (Double.isNaN(want) || Double.isNaN(got)) {
            return Double.isNaN(want) && Double.isNaN(got) ? 0 : Double.POSITIVE_INFINITY;
        }
        if (Double.isInfinite(want) || Double.isInfinite(got)) {
            return want == got ? 0 : Double.POSITIVE_INFINITY;
        }
        double diff = Math.abs(got - want);
        return diff == 0 ? 0 : diff / Math.max(scale, Double.MIN_NORMAL);
    }
}
