package dev.gale.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;

/**
 * The zero-allocation check every hot path's test uses: rounds of {@code calls} calls until one round allocates at
 * most {@link #SLACK} bytes on this thread. Interpreted and C1 code box every vector, so the first rounds allocate
 * until C2 has compiled the path; on a loaded machine that takes seconds, so a path only fails if it still allocates
 * after {@link #DEADLINE_NANOS}, with what its last round allocated.
 *
 * <p>Each call goes through {@link #once}, which the test JVMs never inline (a {@code CompileCommand} in the parent
 * pom). Without it the round loop itself can become hot first and be compiled on stack replacement with the whole
 * kernel inlined into it, past C2's inlining budget, so that some vector calls stay calls and box. That fits the
 * failure seen in about one CI run in four: softmax, the first kernel checked in its JVM, allocated 8448 bytes per call
 * (one boxed vector per iteration of its two loop-carried reductions) for all 30 s, i.e. in code that never
 * recompiled. With the call kept out of line, the kernel is compiled the way a library caller gets it: as the callee
 * of an ordinary method.
 */
public final class AllocationCheck {
    /** Bytes a clean round may still show (the counter's own and one-off JIT noise; one boxed vector per call is more). */
    public static final long SLACK = 1024;
    /** How long to wait for C2: 10 s was not enough for softmax under a load average of 8. */
    public static final long DEADLINE_NANOS = 30_000_000_000L;

    private AllocationCheck() {
    }

    /** One call of the path under test; kept out of line by the test JVMs' CompileCommand (see above). */
    static void once(Runnable call) {
        call.run();
    }

    public static void assertNoAllocation(String what, int calls, Runnable call) {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long start = System.nanoTime();
        long allocated;
        int rounds = 0;
        do {
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < calls; i++) {
                once(call);
            }
            allocated = mx.getCurrentThreadAllocatedBytes() - before;
            rounds++;
        } while (allocated > SLACK && System.nanoTime() - start < DEADLINE_NANOS);
        System.out.printf("zero-allocation %s: %d bytes over %d calls after %d rounds (%.1f s)%n", what, allocated,
                calls, rounds, (System.nanoTime() - start) / 1e9);
        assertTrue(allocated <= SLACK, what + " still allocated " + allocated + " bytes over " + calls
                + " calls after " + rounds + " rounds of warm-up");
    }
}
