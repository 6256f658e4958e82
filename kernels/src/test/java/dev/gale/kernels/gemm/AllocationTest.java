package dev.gale.kernels.gemm;

import dev.gale.kernels.AllocationCheck;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
            AllocationCheck.assertNoAllocation("gemv " + kind, CALLS, () -> kind.gemvRows(w, x, y, out, in, 0, out));
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
            AllocationCheck.assertNoAllocation("gemm " + kind, CALLS,
                    () -> kind.gemmOutputs(w, x, y, tokens, out, in, 0, out));
        }
    }
}
