package dev.gale.kernels.quant;

import dev.gale.kernels.AllocationCheck;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The single-thread hot paths allocate nothing once compiled (a boxed vector would show up here at once). */
@Tag("vector")
class QuantAllocationTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    @Test
    void hotPathsAllocateNothing() {
        int in = 128;
        int rows = 13;
        int tokens = 5;
        Random rnd = new Random(3);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * tokens * in, 64);
            MemorySegment row = arena.allocate(4L * in, 64);
            for (int i = 0; i < tokens * in; i++) {
                x.set(F, 4L * i, (float) rnd.nextGaussian());
            }
            MemorySegment w8 = arena.allocate(Q8_0.rowBytes(in) * rows, 64);
            MemorySegment w4 = arena.allocate(Q4_0.rowBytes(in) * rows, 64);
            for (int r = 0; r < rows; r++) {
                for (int k = 0; k < in; k++) {
                    row.set(F, 4L * k, (float) rnd.nextGaussian());
                }
                Q8_0.quantize(row, 0, w8, r * Q8_0.rowBytes(in), in);
                Q4_0.quantize(row, 0, w4, r * Q4_0.rowBytes(in), in);
            }
            Q8Activations a = new Q8Activations(arena.allocate(Q8Activations.scratchBytes(tokens, in), 64), 0,
                    tokens, in);
            MemorySegment y = arena.allocate(4L * rows * tokens, 64);
            Q8_0Packed p8 = Q8_0Packed.pack(w8, 0, rows, in, arena);
            Q4_0Packed p4 = Q4_0Packed.pack(w4, 0, rows, in, arena);
            Q4_0Lanes l4 = Q4_0Lanes.pack(w4, 0, rows, in, arena);
            Runnable[] paths = {
                () -> a.quantize(x, 0, tokens),
                () -> Q8_0Matmul.INSTANCE.matmul(w8, 0, rows, in, a, y, 0, 0, rows),
                () -> Q4_0Matmul.INSTANCE.matmul(w4, 0, rows, in, a, y, 0, 0, rows),
                () -> Q8_0Matmul.INSTANCE.matmulF32(w8, 0, rows, in, x, 0, 1, y, 0, 0, rows),
                () -> Q4_0Matmul.INSTANCE.matmulF32(w4, 0, rows, in, x, 0, 1, y, 0, 0, rows),
                () -> Q8_0Matmul.INSTANCE.matmulF32(w8, 0, rows, in, x, 0, tokens, y, 0, 0, rows),
                () -> Q4_0Matmul.INSTANCE.matmulF32(w4, 0, rows, in, x, 0, tokens, y, 0, 0, rows),
                () -> p8.matmulF32(x, 0, 1, y, 0, 0, rows),
                () -> p4.matmulF32(x, 0, 1, y, 0, 0, rows),
                () -> p8.matmulF32(x, 0, tokens, y, 0, 1, rows - 2),
                () -> p4.matmulF32(x, 0, tokens, y, 0, 1, rows - 2),
                () -> l4.matmul(a, y, 0, 0, rows),
                () -> l4.matmul(a, y, 0, 1, rows - 2),
                () -> l4.matmulQ8(x, 0, tokens, y, 0, 0, rows),
            };
            // W4Ax decode: an A8 block then an A4 one, whole row groups in pairs and cut ones on both sides
            int w4Rows = 3 * W4Packed.R + 5;
            MemorySegment wf = arena.allocate(4L * w4Rows * 2 * in, 64);
            for (int i = 0; i < w4Rows * 2 * in; i++) {
                wf.set(F, 4L * i, (float) rnd.nextGaussian());
            }
            W4Packed pw = W4Packed.pack(W4Weights.quantize(wf, 0, w4Rows, 2 * in, 128, arena), arena);
            ActivationQuant aw = ActivationQuant.allocate(1, 2 * in, new boolean[] {true, false}, arena);
            MemorySegment yw = arena.allocate(4L * w4Rows, 64);
            aw.quantize(x, 0, 1);
            Runnable[] w4Paths = {
                () -> pw.gemv(aw, yw, 0, 0, w4Rows),
                () -> pw.gemv(aw, yw, 0, 3, w4Rows - 2),
                () -> {
                    aw.quantize(x, 0, 1);
                    pw.gemv(aw, yw, 0, 0, w4Rows);
                },
            };
            for (int p = 0; p < w4Paths.length; p++) {
                AllocationCheck.assertNoAllocation("W4 decode path " + p, 1_000, w4Paths[p]);
            }
            // row lanes (Q4_0, Q8_0): whole groups four at a time, cut ones on both sides, several tokens
            int laneRows = 4 * Q4_0Lanes.R + 5;
            MemorySegment wl = arena.allocate(Q4_0.rowBytes(in) * laneRows, 64);
            for (int r = 0; r < laneRows; r++) {
                Q4_0.quantize(x, 4L * (r % tokens) * in, wl, r * Q4_0.rowBytes(in), in);
            }
            MemorySegment wl8 = arena.allocate(Q8_0.rowBytes(in) * laneRows, 64);
            for (int r = 0; r < laneRows; r++) {
                Q8_0.quantize(x, 4L * (r % tokens) * in, wl8, r * Q8_0.rowBytes(in), in);
            }
            Q4_0Lanes lanes = Q4_0Lanes.pack(wl, 0, laneRows, in, arena);
            Q8_0Lanes lanes8 = Q8_0Lanes.pack(wl8, 0, laneRows, in, arena);
            MemorySegment yl = arena.allocate(4L * laneRows * tokens, 64);
            Runnable[] lanePaths = {
                () -> lanes.matmulQ8(x, 0, 1, yl, 0, 0, laneRows),
                () -> lanes.matmulQ8(x, 0, 1, yl, 0, 3, laneRows - 2),
                () -> lanes8.matmulQ8(x, 0, 1, yl, 0, 0, laneRows),
                () -> lanes8.matmulQ8(x, 0, 1, yl, 0, 3, laneRows - 2),
                () -> lanes8.matmulQ8(x, 0, tokens, yl, 0, 1, laneRows),
                () -> lanes8.matmul(a, yl, 0, 0, laneRows),
            };
            a.quantize(x, 0, tokens);
            for (int p = 0; p < lanePaths.length; p++) {
                AllocationCheck.assertNoAllocation("row lanes path " + p, 1_000, lanePaths[p]);
            }
            a.quantize(x, 0, tokens);
            for (int p = 0; p < paths.length; p++) {
                AllocationCheck.assertNoAllocation("quant path " + p, 1_000, paths[p]);
            }
        }
    }
}
