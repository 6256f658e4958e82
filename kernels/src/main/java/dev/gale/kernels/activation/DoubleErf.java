package dev.gale.kernels.activation;

/**
 * erf and erfc in double precision for the references and tests (the JDK has none): the Maclaurin series
 * {@code erf(x) = 2/√π · Σ (−1)^n x^{2n+1} / (n!(2n+1))} for |x| < 2.5, and for larger x the Laplace continued
 * fraction {@code erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))}, evaluated bottom-up.
 * Both are accurate to about 1e-15 relative in their ranges, far beyond what the F32 paths are checked against.
 */
public final class DoubleErf {
    private static final double TWO_OVER_SQRT_PI = 1.1283791670955126;

    private DoubleErf() {
    }

    public static double erf(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        double a = Math.abs(x);
        double r = a < 2.5 ? series(a) : 1 - cf(a);
        return Math.copySign(r, x);
    }

    /** erfc(x), accurate in relative terms for large positive x. */
    public static double erfc(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        if (x < 2.5) {
            return 1 - erf(x);
        }
        return cf(x);
    }

    private static double series(double a) {
        double x2 = a * a;
        double term = a;
        double sum = a;
        for (int n = 1; n < 200; n++) {
            term *= -x2 / n;
            double t = term / (2 * n + 1);
            sum += t;
            if (Math.abs(t) < 1e-17 * Math.abs(sum)) {
                break;
            }
        }
        return TWO_OVER_SQRT_PI * sum;
    }

    private static double cf(double a) {
        if (a == Double.POSITIVE_INFINITY) {
            return 0;
        }
        double f = a;
        for (int k = 120; k >= 1; k--) {
            f = a + (k / 2.0) / f;
        }
        return Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
    }
}
