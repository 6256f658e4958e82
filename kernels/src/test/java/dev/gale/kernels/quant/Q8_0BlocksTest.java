package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.Numerics;
import dev.gale.kernels.quant.QuantMatmulTest.Fmt;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Q8_0 read in llama.cpp's own blocks ({@link Q8_0Blocks}): the copy holds the source bytes, the one-token GEMV that
 * reads four quarters of each thread's rows side by side gives every row (rows not a multiple of 4, shapes split in
 * many chunks) within the F32 dot bound of the exact product, several tokens go through {@link Q8_0Matmul}, and the
 * panel codec decodes the source codes, contiguous (the vector path) and strided, for the prefill GEMM.
 */
@Tag("vector")
class Q8_0BlocksTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Test
    void gemvOverQuarterStreams() {
        Random rnd = new Random(20);
        for (int[] s : QuantMatmulTest.SHAPES) {
            int in = s[0];
            int rows = s[1];
            int tokens = s[2];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = Fmt.Q8_0.weights(arena, rnd, rows, in, false);
                Q8_0Blocks b = Q8_0Blocks.copy(w, 0, rows, in, arena);
                MemorySegment x = QuantMatmulTest.randomActivations(arena, rnd, tokens, in);
                MemorySegment got = arena.allocate(4L * rows * tokens);
                got.fill((byte) 0x7f);
                b.matmulF32Parallel(x, 0, tokens, got, 0);
                long rb = Q8_0.rowBytes(in);
                for (int t = 0; t < tokens; t++) {
                    for (int r = 0; r < rows; r++) {
                        double exact = 0;
                        double abs = 0;
                        for (int k = 0; k < in; k++) {
                            double term = (double) Fmt.Q8_0.d(w, r * rb, k / 32) * Fmt.Q8_0.q(w, r * rb, k)
                                    * x.get(F, 4L * ((long) t * in + k));
                            exact += term;
                            abs += Math.abs(term);
                        }
                        float y = got.get(F, 4L * ((long) t * rows + r));
                        assertTrue(Math.abs(y - exact) <= Numerics.dotBound(abs, in), in + "x" + rows + "x" + tokens
                                + " t" + t + " r" + r + ": " + y + " vs " + exact);
                    }
                }
            }
        }
    }

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
