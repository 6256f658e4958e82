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
 * The row-lane Q4_0 layout ({@link Q4_0Lanes}): exact round trip to llama.cpp's format, its panel codec, and the decode
 * path's own quantization and row ranges, with row counts that leave a padded last group of {@link Q4_0Lanes#R}. The
 * kernel against the reference, on {@link Q8Activations}, runs in {@link QuantPackedTest} with the other formats.
 */
@Tag("vector")
class Q4_0LanesTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Fmt Q4 = Fmt.Q4_0;

    @Test
    void packRoundTripIsExact() {
        Random rnd = new Random(5);
        for (int[] s : QuantMatmulTest.SHAPES) {
            int in = s[0];
            int rows = s[1];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = Q4.weights(arena, rnd, rows, in, rnd.nextBoolean());
                Q4_0Lanes p = Q4_0Lanes.pack(w, 0, rows, in, arena);
                long rb = Q4.rowBytes(in);
                MemorySegment want = arena.allocate(4L * in);
                MemorySegment got = arena.allocate(4L * in);
                MemorySegment bytes = arena.allocate(rb);
                for (int r = 0; r < rows; r++) {
                    Q4_0.dequantize(w, r * rb, want, 0, in);
                    p.dequantizeRow(r, got, 0);
                    assertEquals(-1, want.mismatch(got), in + "x" + rows + " row " + r + " values");
                    p.exportRow(r, bytes, 0);
                    assertEquals(-1, w.asSlice(r * rb, rb).mismatch(bytes), in + "x" + rows + " row " + r + " bytes");
                }
            }
        }
    }

    /**
     * The decode path quantizes F32 activations itself: the same bits as {@link Q8Activations#quantize} then the
     * kernel, over blocks that are zero, tiny (below the quantizer's floor), ordinary, at ties of the rounding, and
     * non-finite (NaN outputs from both).
     */
    @Test
    void fusedQuantizationMatchesQ8Activations() {
        int rows = 45;
        int in = 160;
        int tokens = 3;
        Random rnd = new Random(8);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = Q4.weights(arena, rnd, rows, in, false);
            Q4_0Lanes p = Q4_0Lanes.pack(w, 0, rows, in, arena);
            MemorySegment x = arena.allocate(4L * tokens * in, 64);
            for (int i = 0; i < tokens * in; i++) {
                int block = (i % in) / 32;
                float v = switch (block) {
                    case 0 -> 0f;
                    case 1 -> (float) rnd.nextGaussian() * 0x1p-125f;
                    case 2 -> (i % 32 == 0 ? 127f : (i % 7) - 3.5f);
                    default -> (float) rnd.nextGaussian() * (1 + i % 5);
                };
                x.set(F, 4L * i, v);
            }
            x.set(F, 4L * (2L * in + 100), Float.NaN);
            Q8Activations a = QuantMatmulTest.quantized(arena, x, tokens, in);
            MemorySegment want = arena.allocate(4L * rows * tokens);
            MemorySegment got = arena.allocate(4L * rows * tokens);
            p.matmul(a, want, 0, 0, rows);
            p.matmulQ8Parallel(x, 0, tokens, got, 0);
            for (int i = 0; i < rows * tokens; i++) {
                assertEquals(Float.floatToRawIntBits(want.get(F, 4L * i)), Float.floatToRawIntBits(got.get(F, 4L * i)),
                        "output " + i + ": " + want.get(F, 4L * i) + " vs " + got.get(F, 4L * i));
            }
            for (int r = 0; r < rows; r++) {
                assertTrue(Float.isNaN(got.get(F, 4L * (2L * rows + r))), "a NaN activation makes its token NaN");
                assertTrue(Float.isFinite(got.get(F, 4L * r)), "token 0 stays finite");
            }
        }
    }

    /**
     * One token runs whole groups four at a time from the four quarters of each thread's range: the same bits as the
     * single-group row-range kernel, for group counts that leave a remainder, a padded last group and ranges split
     * over the pool (45 groups at 4096 inputs make chunks of at least 5).
     */
    @Test
    void oneTokenQuadsGiveTheSingleGroupBits() {
        Random rnd = new Random(11);
        for (int[] shape : new int[][] {{160, 5 * Q4_0Lanes.R + 3}, {4096, 21 * Q4_0Lanes.R + 3},
            {4096, 45 * Q4_0Lanes.R + 3}, {64, Q4_0Lanes.R}}) {
            int in = shape[0];
            int rows = shape[1];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = Q4.weights(arena, rnd, rows, in, false);
                Q4_0Lanes p = Q4_0Lanes.pack(w, 0, rows, in, arena);
                // two copies of one token: more than one token runs group by group, the single-group bits
                MemorySegment x = QuantMatmulTest.randomActivations(arena, rnd, 1, in);
                MemorySegment x2 = arena.allocate(8L * in);
                MemorySegment.copy(x, 0, x2, 0, 4L * in);
                MemorySegment.copy(x, 0, x2, 4L * in, 4L * in);
                MemorySegment single = arena.allocate(8L * rows);
                p.matmulQ8(x2, 0, 2, single, 0, 0, rows);
                MemorySegment want = single.asSlice(0, 4L * rows);
                MemorySegment got = arena.allocate(4L * rows);
                p.matmulQ8Parallel(x, 0, 1, got, 0);
                assertEquals(-1, want.mismatch(got), in + "x" + rows + ": first differing byte (pool)");
                MemorySegment cut = arena.allocate(4L * rows);
                int[] cuts = java.util.stream.IntStream.of(0, 3, Q4_0Lanes.R + 1, rows / 2, rows)
                        .map(c -> Math.min(c, rows)).sorted().toArray();
                for (int i = 0; i + 1 < cuts.length; i++) {
                    p.matmulQ8(x, 0, 1, cut, 0, cuts[i], cuts[i + 1]);
                }
                assertEquals(-1, want.mismatch(cut), in + "x" + rows + ": first differing byte (ranges)");
            }
        }
    }

    /**
     * A row range writes exactly its rows, with the bits of the full parallel run: ranges that start and end inside a group,
     * span groups, or cover only the padded last group.
     */
    @Test
    void rowRangesWriteOnlyTheirRows() {
        Random rnd = new Random(9);
        int in = 96;
        int rows = 2 * Q4_0Lanes.R + 5;
        int tokens = 2;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = Q4.weights(arena, rnd, rows, in, false);
            Q4_0Lanes p = Q4_0Lanes.pack(w, 0, rows, in, arena);
            MemorySegment xf = QuantMatmulTest.randomActivations(arena, rnd, tokens, in);
            MemorySegment full = arena.allocate(4L * rows * tokens);
            p.matmulQ8Parallel(xf, 0, tokens, full, 0);
            int r2 = 2 * Q4_0Lanes.R;
            int[][] ranges = {{0, rows}, {1, 3}, {2, r2 - 1}, {5, 5}, {r2, rows}, {r2 + 1, rows - 1}, {3, rows}};
            for (int[] range : ranges) {
                MemorySegment part = arena.allocate(4L * rows * tokens);
                part.fill((byte) 0x7f);
                p.matmulQ8(xf, 0, tokens, part, 0, range[0], range[1]);
                for (int t = 0; t < tokens; t++) {
                    for (int r = 0; r < rows; r++) {
                        long o = 4L * (t * rows + r);
                        String at = "t" + t + " r" + r + " range " + range[0] + ".." + range[1];
                        int want = r >= range[0] && r < range[1] ? full.get(ValueLayout.JAVA_INT_UNALIGNED, o)
                                : 0x7f7f7f7f;
                        assertEquals(want, part.get(ValueLayout.JAVA_INT_UNALIGNED, o), at);
                    }
                }
            }
        }
    }

    /**
     * Every block of every row through the panel codec, contiguous and down a strided column, equals the source codes,
     * and the scale the block's {@code d}; the GEMM over those panels (the prefill path) is within the F32 dot bound of
     * the exact product of the dequantized weights.
     */
    @Test
    void panelsDecodeTheSourceCodes() {
        Random rnd = new Random(10);
        int rows = Q4_0Lanes.R + 7;
        int in = 96;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = Q4.weights(arena, rnd, rows, in, false);
            Q4_0Lanes p = Q4_0Lanes.pack(w, 0, rows, in, arena);
            PanelChecks.decodesTheSourceCodes(PackedPanels.Q4_0_LANES, p, Q4, w, rows, in);
            PanelChecks.gemmWithinDotBound(PackedPanels.Q4_0_LANES, p, Q4, w,
                    QuantMatmulTest.randomActivations(arena, rnd, 9, in), 9, rows, in, arena);
        }
    }
}
