package dev.gale.kernels.attention;

import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.AllocationCheck;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A decode step at a steady shape allocates nothing once compiled: the fold's vectors (the score and {@code P·V}
 * tiles, the lane tree, the inlined exp) stay in registers. A vector C2 does not keep there is
 * boxed on every use, which shows up here as kilobytes per call. One pool thread, so every segment runs on the
 * measuring thread; the list still has two workers and splits tiles, so the merge pass runs too.
 */
@Tag("vector")
class DecodeAllocationTest {
    private static final int CALLS = 50;

    enum Rows {
        /** g = 4: the four-row tiles. */
        GQA4(8, 2),
        /** g = 1: the one-row tiles. */
        MHA(2, 2),
        /** g = 5: both. */
        GQA5(10, 2);

        final int heads;
        final int kvHeads;

        Rows(int heads, int kvHeads) {
            this.heads = heads;
            this.kvHeads = kvHeads;
        }
    }

    @ParameterizedTest
    @EnumSource(Rows.class)
    void decodeStepsAllocateNothing(Rows rows) {
        for (DType dtype : new DType[] {DType.F16, DType.F32}) {
            try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(1)) {
                // d = 72: whole vectors plus a scalar tail at 256 and 512 bits.
                DecodeAttentionTest.Case c = DecodeAttentionTest.make(arena, rows.heads, rows.kvHeads, 72,
                        new int[] {130}, dtype, 5);
                WorkList list = LeanSchedule.build(DecodeShape.of(c.kv()), 2);
                DecodeAttention runner = new DecodeAttention(pool);
                MemorySegment out = arena.allocate(4L * rows.heads * 72);
                float scale = c.spec().scale();
                AllocationCheck.assertNoAllocation(rows + " " + dtype, CALLS,
                        () -> runner.run(c.kv(), list, rows.heads, scale, c.q(), 0, out, 0));
            }
        }
    }
}
