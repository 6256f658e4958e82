package dev.gale.kernels.gemm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The single-thread hot paths allocate nothing once compiled: a vector that C2 fails to keep in registers is boxed
 * on every use, which shows up here as kilobytes to megabytes per call.
 */
@Tag("vector")
class AllocationTest {
    private static final int CALLS = 300;
    /** Slack for the measurement itself (the MXBean call), not per call. */
    private static final long SLACK = 1024;
    private static final long WARM_NANOS = 25_000_000_000L;

    @ParameterizedTest
    @EnumSource(Kind.class)
    void gemvRowsAllocateNothing(Kind kind) {
        int out = 64;
        int in = 1031;
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(2);
            MemorySegment w = GemmTest.weights(arena, kind, (long) out * in, rnd);
            MemorySegment x = Data.randomF32(arena, in, rnd);
            MemorySegment y = Data.alloc(arena, out, 4);
            assertNoAllocation("gemv " + kind, () -> kind.gemvRows(w, x, y, out, in, 0, out));
        }
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void gemmOutputsAllocateNothing(Kind kind) {
        int tokens = 9;
        int out = 2 * GemmKernel.NR + 5;
        int in = GemmKernel.KC + 40;
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(4);
            MemorySegment w = GemmTest.weights(arena, kind, (long) out * in, rnd);
            MemorySegment x = Data.randomF32(arena, (long) tokens * in, rnd);
            MemorySegment y = Data.alloc(arena, (long) tokens * out, 4);
            assertNoAllocation("gemm " + kind, () -> kind.gemmOutputs(w, x, y, tokens, out, in, 0, out));
        }
    }

    /**
     * Runs rounds of {@link #CALLS} calls until one allocates nothing (beyond {@link #SLACK}). Interpreted and C1
     * code box every vector, so the first rounds allocate until C2 has compiled the loop; on a loaded machine that
     * takes seconds. A path that still allocates after {@link #WARM_NANOS} fails, with what its last round allocated.
     */
    private static void assertNoAllocation(String what, Runnable call) {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long deadline = System.nanoTime() + WARM_NANOS;
        long allocated;
        int rounds = 0;
        do {
            long before = mx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < CALLS; i++) {
                call.run();
            }
            allocated = mx.getCurrentThreadAllocatedBytes() - before;
            rounds++;
        } while (allocated > SLACK && System.nanoTime() < deadline);
        assertTrue(allocated <= SLACK, what + " still allocated " + allocated + " bytes over " + CALLS
                + " calls after " + rounds + " rounds of warm-up");
    }
}
