package dev.gale.kernels;

import jdk.incubator.vector.FloatVector;

/**
 * Horizontal sums with one fixed order. {@code reduceLanes(ADD)} leaves the order to the implementation, and on this
 * JDK the C2-compiled form and the interpreter's differ, so a kernel's bits changed once the JIT compiled it
 * ({@code RepeatableBitsTest}); summing lane 0, 1, 2, … in scalar code is the same in every tier. Meant for once-per-row
 * reductions, where the few extra instructions do not show.
 */
public final class Lanes {
    private Lanes() {
    }

    /** {@code v[0] + v[1] + … + v[L−1]}, left to right. */
    public static float sum(FloatVector v) {
        float s = v.lane(0);
        for (int i = 1; i < v.length(); i++) {
            s += v.lane(i);
        }
        return s;
    }
}
