package dev.gale.core.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Checks that this JVM compiles the Vector API to SIMD instructions. Old GraalVM, OpenJ9 and some builds run it as
 * plain Java objects, hundreds of times slower than scalar code; Gale reports that loudly instead of being silently
 * slow. The check times a 4096-element dot product both ways until the JIT has compiled both (a fraction of a second
 * when intrinsified; it gives up after two seconds otherwise).
 */
public final class VectorApiCheck {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** Vector time over scalar time's inverse: above ~2 means intrinsified. */
    public record Result(double speedup, String species) {
        public boolean intrinsified() {
            return speedup >= 2.0;
        }

        @Override
        public String toString() {
            return (intrinsified() ? "intrinsified" : "NOT INTRINSIFIED (the CPU path will be very slow on this JVM)")
                    + String.format(", %s, dot x%.1f vs scalar", species, speedup);
        }
    }

    private static volatile Result cached;

    private VectorApiCheck() {
    }

    public static Result run() {
        Result r = cached;
        if (r == null) {
            cached = r = measure();
        }
        return r;
    }

    private static Result measure() {
        float[] a = new float[4096];
        float[] b = new float[4096];
        for (int i = 0; i < a.length; i++) {
            a[i] = (i % 7) * 0.25f;
            b[i] = (i % 5) * 0.5f;
        }
        float sink = 0;
        long vectorBest = Long.MAX_VALUE;
        long scalarBest = Long.MAX_VALUE;
        long deadline = System.nanoTime() + 2_000_000_000L;
        for (int round = 0; System.nanoTime() < deadline; round++) {
            long t0 = System.nanoTime();
            sink += vectorDot(a, b);
            long t1 = System.nanoTime();
            sink += scalarDot(a, b);
            long t2 = System.nanoTime();
            vectorBest = Math.min(vectorBest, t1 - t0);
            scalarBest = Math.min(scalarBest, t2 - t1);
            // Stop once both are compiled and the vector code clearly wins; interpreted code needs many rounds.
            if (round >= 2000 && scalarBest > 3 * vectorBest) {
                break;
            }
        }
        if (sink == 42.4242f) {
            System.out.print("");
        }
        return new Result((double) scalarBest / Math.max(1, vectorBest), F.toString());
    }

    private static float vectorDot(float[] a, float[] b) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i < F.loopBound(a.length); i += F.length()) {
            acc = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, b, i), acc);
        }
        float s = acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        for (; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static float scalarDot(float[] a, float[] b) {
        float s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
