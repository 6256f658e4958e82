package dev.gale.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;

/**
 * The zero-allocation check every hot path's test uses: rounds of {@code calls} calls until one round allocates at
 * most {@link #SLACK} bytes on this thread. Interpreted and C1 code box every vector, so the first rounds allocate
 * until C2 has compiled the path; on a loaded machine that takes seconds, so a path only fails if it still allocates
 * after {@link #DEADLINE_NANOS}, with what its last round allocated.
 */
public final class AllocationCheck {
    /** Bytes a clean round may still show (the counter's own and one-off JIT noise; one boxed vector per call is more). */
    public static final long SLACK = 1024;
    /** How long to wait for C2: 10 s was not enough for softmax under a load average of 8. */
    public static final long DEADLINE_NANOS = 30_000_000_000L;

    private AllocationCheck() {
    }

    public static void assertNoAllocation(String what, int calls, Runnable call) {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long start = System.nanoTime();
        long allocated;
        int rounds = 0;
        do {
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < calls; i++) {
                call.run();
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
