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
 * The row-lane Q8_0 layout ({@link Q8_0Lanes}): exact round trip to llama.cpp's format, its F32-activation kernel
 * against the exact product and the reference, row ranges, and its panel codec, with row counts that leave a padded
 * last group of {@link Q8_0Lanes#R}.
 */
@Tag("vector")
class Q8_0LanesTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Fmt Q8 = Fmt.Q8_0;

    @Test
    void packRoundTripIsExact() {
        Random rnd = new Random(15);
        for (int[] s : QuantMatmulTest.SHAPES) {
            int in = s[0];
            int rows = s[1];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = Q8.weights(arena, rnd, rows, in, rnd.nextBoolean());
                Q8_0Lanes p = Q8_0Lanes.pack(w, 0, rows, in, arena);
                long rb = Q8.rowBytes(in);
                MemorySegment want = arena.allocate(4L * in);
                MemorySegment got = arena.allocate(4L * in);
                MemorySegment bytes = arena.allocate(rb);
                for (int r = 0; r < rows; r++) {
                    Q8_0.dequantize(w, r * rb, want, 0, in);
                    p.dequantizeRow(r, got, 0);
                    assertEquals(-1, want.mismatch(got), in + "x" + rows + " row " + r + " values");
                    p.exportRow(r, bytes, 0);
                    assertEquals(-1, w.asSlice(r * rb, rb).mismatch(bytes), in + "x" + rows + " row " + r + " bytes");
                }
            }
        }
    }

    /**
     * Unit scales and integer activations: every partial sum is an integer below 2^24, so the kernel equals the
     * reference bit for bit; random values stay within the F32 dot bound of the exact product over {@code Σ|d·q·x|}.
     * The row-range call and the parallel one give the same bits.
     */
    @Test
    void againstTheReference() {
        Random rnd = new Random(16);
        for (int[] s : QuantMatmulTest.SHAPES) {
            int in = s[0];
            int rows = s[1];
            int tokens = s[2];
            for (boolean integers : new boolean[] {true, false}) {
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment w = Q8.weights(arena, rnd, rows, in, integers);
                    Q8_0Lanes p = Q8_0Lanes.pack(w, 0, rows, in, arena);
                    MemorySegment x = integers ? QuantMatmulTest.integerActivations(arena, rnd, tokens, in)
                            : QuantMatmulTest.randomActivations(arena, rnd, tokens, in);
                    MemorySegment want = arena.allocate(4L * rows * tokens);
                    MemorySegment got = arena.allocate(4L * rows * tokens);
                    MemorySegment par = arena.allocate(4L * rows * tokens);
                    Q8_0Matmul.referenceF32(w, 0, rows, in, x, 0, tokens, want, 0);
                    p.matmulF32(x, 0, tokens, got, 0, 0, rows);
                    p.matmulF32Parallel(x, 0, tokens, par, 0);
                    long rb = Q8.rowBytes(in);
                    for (int t = 0; t < tokens; t++) {
                        for (int r = 0; r < rows; r++) {
                            double exact = 0;
                            double abs = 0;
                            for (int k = 0; k < in; k++) {
                                double term = (double) Q8.d(w, r * rb, k / 32) * Q8.q(w, r * rb, k)
                                        * x.get(F, 4L * ((long) t * in + k));
                                exact += term;
                                abs += Math.abs(term);
                            }
                            long o = 4L * ((long) t * rows + r);
                            String at = in + "x" + rows + "x" + tokens + " t" + t + " r" + r;
                            if (integers) {
                                assertEquals(want.get(F, o), got.get(F, o), "integers " + at);
                            }
                            assertTrue(Math.abs(got.get(F, o) - exact) <= Numerics.dotBound(abs, in),
                                    at + ": " + got.get(F, o) + " vs " + exact);
                            assertEquals(Float.floatToRawIntBits(got.get(F, o)),
                                    Float.floatToRawIntBits(par.get(F, o)), "parallel " + at);
                        }
                    }
                }
            }
        }
    }

    /** A row range writes exactly its rows, with the bits of the full run, inside and across groups. */
    @Test
    void rowRangesWriteOnlyTheirRows() {
        Random rnd = new Random(17);
        int in = 96;
        int rows = 2 * Q8_0Lanes.R + 5;
        int tokens = 2;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = Q8.weights(arena, rnd, rows, in, false);
            Q8_0Lanes p = Q8_0Lanes.pack(w, 0, rows, in, arena);
            MemorySegment x = QuantMatmulTest.randomActivations(arena, rnd, tokens, in);
            MemorySegment full = arena.allocate(4L * rows * tokens);
            p.matmulF32Parallel(x, 0, tokens, full, 0);
            int r2 = 2 * Q8_0Lanes.R;
            int[][] ranges = {{0, rows}, {1, 3}, {2, r2 - 1}, {5, 5}, {r2, rows}, {r2 + 1, rows - 1}, {3, rows}};
            for (int[] range : ranges) {
                MemorySegment part = arena.allocate(4L * rows * tokens);
                part.fill((byte) 0x7f);
                p.matmulF32(x, 0, tokens, part, 0, range[0], range[1]);
                for (int t = 0; t < tokens; t++) {
                    for (int r = 0; r < rows; r++) {
                        long o = 4L * (t * rows + r);
                        int want = r >= range[0] && r < range[1] ? full.get(ValueLayout.JAVA_INT_UNALIGNED, o)
                                : 0x7f7f7f7f;
                        assertEquals(want, part.get(ValueLayout.JAVA_INT_UNALIGNED, o),
                                "t" + t + " r" + r + " range " + range[0] + ".." + range[1]);
                    }
                }
            }
        }
    }

    /**
     * The panel codec gives every block's source codes, contiguous and strided, and the block's {@code d}; the GEMM
     * over those panels (the prefill path) is within the F32 dot bound of the exact product.
     */
    @Test
    void panelsDecodeTheSourceCodes() {
        Random rnd = new Random(18);
        int rows = Q8_0Lanes.R + 7;
        int in = 96;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = Q8.weights(arena, rnd, rows, in, false);
            Q8_0Lanes p = Q8_0Lanes.pack(w, 0, rows, in, arena);
            PanelChecks.decodesTheSourceCodes(PackedPanels.Q8_0_LANES, p, Q8, w, rows, in);
            PanelChecks.gemmWithinDotBound(PackedPanels.Q8_0_LANES, p, Q8, w,
                    QuantMatmulTest.randomActivations(arena, rnd, 9, in), 9, rows, in, arena);
        }
    }
}
