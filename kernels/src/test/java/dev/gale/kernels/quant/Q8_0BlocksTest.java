package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.gale.kernels.quant.QuantMatmulTest.Fmt;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Q8_0 read in llama.cpp's own blocks ({@link Q8_0Blocks}): the copy holds the source bytes, its GEMV is
 * {@link Q8_0Matmul}'s (tested with that class), and its panel codec decodes the source codes, contiguous (the vector
 * path) and strided, for the prefill GEMM.
 */
@Tag("vector")
class Q8_0BlocksTest {
    @Test
    void copyAndPanels() {
        Random rnd = new Random(19);
        int rows = 21;
        int in = 96;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = Fmt.Q8_0.weights(arena, rnd, rows, in, false);
            Q8_0Blocks b = Q8_0Blocks.copy(w, 0, rows, in, arena);
            assertEquals(-1, w.asSlice(0, rows * Q8_0.rowBytes(in)).mismatch(b.blocks()), "the copy's bytes");
            PanelChecks.decodesTheSourceCodes(PackedPanels.Q8_0_BLOCKS, b, Fmt.Q8_0, w, rows, in);
            PanelChecks.gemmWithinDotBound(PackedPanels.Q8_0_BLOCKS, b, Fmt.Q8_0, w,
                    QuantMatmulTest.randomActivations(arena, rnd, 9, in), 9, rows, in, arena);
        }
    }
}
