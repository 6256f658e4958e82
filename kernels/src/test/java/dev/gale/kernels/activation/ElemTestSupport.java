package dev.gale.kernels.activation;

import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.kernels.AllocationCheck;
import dev.gale.kernels.Operands;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/** Helpers shared by the element-wise op tests: operand segments at odd offsets, random data, allocation checks. */
public final class ElemTestSupport {
    /** Lengths that hit empty vector loops, exact multiples, and tails on both 8- and 16-lane species. */
    public static final int[] AWKWARD = {1, 7, 31, 33, 4095, 4097};
    /** A byte offset that is not a multiple of any vector width: every operand is a slice. */
    public static final long PAD = 12;

    private ElemTestSupport() {
    }

    /** A segment holding {@code values} at byte offset {@link #PAD}, with slack after. */
    public static MemorySegment segment(Arena arena, float[] values) {
        MemorySegment s = arena.allocate(PAD + 4L * values.length + 64, 64);
        for (int i = 0; i < values.length; i++) {
            s.set(Operands.F32, PAD + 4L * i, values[i]);
        }
        return s;
    }

    /** A zeroed segment for {@code n} F32 at byte offset {@link #PAD}. */
    public static MemorySegment output(Arena arena, long n) {
        return arena.allocate(PAD + 4L * n + 64, 64);
    }

    public static float[] read(MemorySegment s, long n) {
        float[] a = new float[(int) n];
        for (int i = 0; i < n; i++) {
            a[i] = s.get(Operands.F32, PAD + 4L * i);
        }
        return a;
    }

    public static float[] gaussian(Random rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextGaussian() * scale);
        }
        return a;
    }

    public static float[] uniform(Random rnd, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        }
        return a;
    }

    /** Asserts every {@code |got[i] − want[i]| ≤ bound[i]}, NaN matching NaN and infinities matching exactly. */
    public static void assertWithin(String what, float[] want, float[] got, double[] bound) {
        for (int i = 0; i < want.length; i++) {
            double err = absError(got[i], want[i]);
            double limit = Double.isFinite(bound[i]) ? bound[i] : 0;
            if (!(err <= limit)) {
                fail(what + ": element " + i + " got " + got[i] + " want " + want[i] + " |err| " + err + " > bound "
                        + bound[i]);
            }
        }
    }

    private static double absError(float got, float want) {
        return dev.gale.kernels.Numerics.relError(got, want, 1.0);
    }

    /** ulps between two floats of the same sign class, measured in the ulp of {@code want}. */
    public static double ulps(double got, double want) {
        if (got == want) {
            return 0;
        }
        return Math.abs(got - want) / Math.ulp((float) want);
    }

    /** {@link AllocationCheck#assertNoAllocation} with rounds of 200 calls. */
    public static void assertNoAllocation(String what, Runnable op) {
        AllocationCheck.assertNoAllocation(what, 200, op);
    }
}
