package dev.gale.kernels.gemm;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Segments that do not match the declared shapes are refused before any work, naming the operand and shape. */
class ValidationTest {
    private static void expect(Executable call, String... fragments) {
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class, call);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should mention '" + f + "'");
        }
    }

    @Test
    void gemvRejectsShortSegments() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate(4L * 8 * 16);
            MemorySegment wHalf = arena.allocate(2L * 8 * 16);
            MemorySegment x = arena.allocate(4L * 16);
            MemorySegment y = arena.allocate(4L * 8);
            expect(() -> GemvF32.gemv(w, 0, x, 0, y, 0, 9, 16), "gemv f32", "W (weights)", "[9][16]", "F32");
            expect(() -> GemvF32.rows(w, 0, x, 4, y, 0, 8, 16, 0, 8), "x (activations)", "[1][16]", "offset 4");
            expect(() -> GemvF32.reference(w, 0, x, 0, y, 0, 8, 17), "W (weights)", "[8][17]");
            expect(() -> GemvF16.gemv(wHalf, 0, x, 0, y, 0, 8, 17), "gemv f16", "W (weights)", "[8][17]", "F16");
            expect(() -> GemvF16.rows(w, 0, x, 0, y, 4, 8, 16, 0, 8), "y (output)", "[1][8]");
            expect(() -> GemvF32.rows(w, 0, x, 0, y, 0, 8, 16, 3, 9), "row range [3, 9)");
            expect(() -> GemvF32.gemv(w, 0, x, 0, y, 0, 0, 16), "dimensions must be positive");
            expect(() -> GemvF32.gemv(w, -4, x, 0, y, 0, 8, 16), "W (weights)", "offset -4");
        }
    }

    @Test
    void gemmRejectsShortSegments() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate(4L * 8 * 16);
            MemorySegment x = arena.allocate(4L * 3 * 16);
            MemorySegment y = arena.allocate(4L * 3 * 8);
            expect(() -> GemmF32.gemm(w, 0, x, 0, y, 0, 4, 8, 16), "gemm f32", "X (activations)", "[4][16]");
            expect(() -> GemmF32.gemm(w, 0, x, 0, y, 0, 3, 9, 16), "W (weights)", "[9][16]");
            expect(() -> GemmF16.gemm(w, 0, x, 0, y, 8, 3, 8, 16), "gemm f16", "Y (output)", "[3][8]");
            expect(() -> GemmF16.outputs(w, 0, x, 0, y, 0, 3, 8, 16, 0, 9), "output range [0, 9)");
            expect(() -> GemmF32.reference(w, 0, x, 0, y, 0, 3, 8, 17), "W (weights)", "[8][17]");
            expect(() -> GemmF32.gemm(w, 0, x, 0, y, 0, -1, 8, 16), "dimensions must be positive");
        }
    }
}
