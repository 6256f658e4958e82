package dev.gale.core.kernel;

/**
 * Math intrinsics for kernels. Each has an exact Java body (what the emulator runs) and maps to a device built-in:
 *
 * <table>
 * <caption>Intrinsic mapping</caption>
 * <tr><th>KMath</th><th>OpenCL C 1.2</th><th>CUDA C</th><th>Java body</th></tr>
 * <tr><td>exp, log, sqrt, tanh, sin, cos, pow, floor, ceil</td><td>same name (float overload)</td><td>expf, logf, ...</td>
 *     <td>{@code (float) Math.f(x)}</td></tr>
 * <tr><td>rsqrt</td><td>rsqrt</td><td>rsqrtf</td><td>{@code (float) (1 / Math.sqrt(x))}</td></tr>
 * <tr><td>erf</td><td>erf</td><td>erff</td><td>series / Chebyshev fit in double, error below 2e-7</td></tr>
 * <tr><td>fma</td><td>fma</td><td>fmaf</td><td>{@code Math.fma} (exact on both sides)</td></tr>
 * <tr><td>min, max (float)</td><td>fmin, fmax</td><td>fminf, fmaxf</td><td>IEEE minNum/maxNum: a NaN operand is
 *     ignored</td></tr>
 * <tr><td>abs (float)</td><td>fabs</td><td>fabsf</td><td>{@code Math.abs}</td></tr>
 * <tr><td>min, max, abs (int, long)</td><td colspan="2">helpers with Java semantics</td><td>{@code Math.min/max/abs}</td></tr>
 * </table>
 *
 * <p>Transcendental functions are not correctly rounded on devices (OpenCL allows up to 4 ulp for exp, log, pow, ...;
 * rsqrt 2 ulp), so results agree with the Java body to a few ulp, not bit for bit. {@code fma}, {@code sqrt},
 * {@code floor}, {@code ceil}, {@code abs}, {@code min} and {@code max} are exact. In kernels, the {@code Math}
 * methods with an {@code int}, {@code long} or {@code float} overload ({@code Math.min}, {@code Math.max},
 * {@code Math.abs}, {@code Math.fma}) keep their exact Java semantics (NaN-propagating float min/max); everything
 * in {@code Math} that takes a {@code double} is rejected, use this class instead.
 */
public final class KMath {
    private KMath() {
    }

    public static float exp(float x) {
        return (float) Math.exp(x);
    }

    public static float log(float x) {
        return (float) Math.log(x);
    }

    public static float sqrt(float x) {
        return (float) Math.sqrt(x);
    }

    public static float rsqrt(float x) {
        return (float) (1.0 / Math.sqrt(x));
    }

    public static float tanh(float x) {
        return (float) Math.tanh(x);
    }

    public static float sin(float x) {
        return (float) Math.sin(x);
    }

    public static float cos(float x) {
        return (float) Math.cos(x);
    }

    public static float pow(float x, float y) {
        return (float) Math.pow(x, y);
    }

    public static float floor(float x) {
        return (float) Math.floor(x);
    }

    public static float ceil(float x) {
        return (float) Math.ceil(x);
    }

    public static float fma(float a, float b, float c) {
        return Math.fma(a, b, c);
    }

    public static float abs(float x) {
        return Math.abs(x);
    }

    /** IEEE minNum, as C's {@code fmin}: the other operand when one is NaN. */
    public static float min(float a, float b) {
        if (Float.isNaN(a)) {
            return b;
        }
        if (Float.isNaN(b)) {
            return a;
        }
        return Math.min(a, b);
    }

    /** IEEE maxNum, as C's {@code fmax}: the other operand when one is NaN. */
    public static float max(float a, float b) {
        if (Float.isNaN(a)) {
            return b;
        }
        if (Float.isNaN(b)) {
            return a;
        }
        return Math.max(a, b);
    }

    public static int min(int a, int b) {
        return Math.min(a, b);
    }

    public static int max(int a, int b) {
        return Math.max(a, b);
    }

    public static int abs(int a) {
        return Math.abs(a);
    }

    public static long min(long a, long b) {
        return Math.min(a, b);
    }

    public static long max(long a, long b) {
        return Math.max(a, b);
    }

    public static long abs(long a) {
        return Math.abs(a);
    }

    /** The error function, to better than 2e-7 absolute. */
    public static float erf(float x) {
        double z = Math.abs((double) x);
        if (Double.isNaN(z)) {
            return Float.NaN;
        }
        double r;
        if (z < 0.5) {
            // Maclaurin series: 2/sqrt(pi) * sum (-1)^n z^(2n+1) / (n! (2n+1)).
            double term = z;
            double sum = z;
            double z2 = z * z;
            for (int n = 1; n < 12; n++) {
                term *= -z2 / n;
                sum += term / (2 * n + 1);
            }
            r = sum * 1.1283791670955126;
        } else {
            // erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2): a Chebyshev fit with relative error below 1.2e-7.
            double t = 1.0 / (1.0 + 0.5 * z);
            double p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
                    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
            r = 1.0 - t * Math.exp(-z * z + p);
        }
        return (float) (x < 0 ? -r : r);
    }
}
