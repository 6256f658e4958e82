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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The row-lane layouts of both formats ({@link Q4_0Lanes}, {@link Q8_0Lanes}, scheduled by {@link RowLaneGemv}):
 * exact round trip to llama.cpp's format, the panel codecs, and the decode path's own quantization, quads and row
 * ranges, with row counts that leave a padded last group of {@link RowLaneGemv#R}. The kernels against the
 * references, on {@link Q8Activations}, run in {@link QuantPackedTest} with the other layouts.
 */
@Tag("vector")
class RowLaneGemvTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Token 0 of {@code a} as the kernels' operand, for the scalar sums ({@link RowLaneGemv#rowScalar}). */
    private static RowLaneGemv.Operand operand(Q8Activations a, int in) {
        RowLaneGemv.Operand op = new RowLaneGemv.Operand().ensure(1, in);
        for (int k = 0; k < in; k++) {
            op.codes[k] = a.q(0, k);
        }
        for (int b = 0; b < in / 32; b++) {
            op.scales[b] = a.scale(0, b);
            op.zeros[b] = -8 * a.sum(0, b);
        }
        return op;
    }

    private static RowLaneGemv pack(Fmt fmt, MemorySegment w, int rows, int in, Arena arena) {
        return fmt == Fmt.Q4_0 ? Q4_0Lanes.pack(w, 0, rows, in, arena) : Q8_0Lanes.pack(w, 0, rows, in, arena);
    }

    @ParameterizedTest
    @EnumSource(Fmt.class)
    void packRoundTripIsExact(Fmt fmt) {
        Random rnd = new Random(5 + fmt.ordinal());
        for (int[] s : QuantMatmulTest.SHAPES) {
            int in = s[0];
            int rows = s[1];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, rnd.nextBoolean());
                RowLaneGemv p = pack(fmt, w, rows, in, arena);
                long rb = fmt.rowBytes(in);
                MemorySegment want = arena.allocate(4L * in);
                MemorySegment got = arena.allocate(4L * in);
                MemorySegment bytes = arena.allocate(rb);
                for (int r = 0; r < rows; r++) {
                    if (fmt == Fmt.Q4_0) {
                        Q4_0.dequantize(w, r * rb, want, 0, in);
                    } else {
                        Q8_0.dequantize(w, r * rb, want, 0, in);
                    }
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
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void fusedQuantizationMatchesQ8Activations(Fmt fmt) {
        int rows = 45;
        int in = 160;
        int tokens = 3;
        Random rnd = new Random(8);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
            RowLaneGemv p = pack(fmt, w, rows, in, arena);
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
     * Whole groups run four at a time from the four quarters of each range, remainders and cut groups as quads that
     * repeat a group: a row's bits do not depend on its partners, so two copies of a token, the pool and any cut of
     * the rows agree bit for bit with the scalar sums, for group counts that leave a remainder, a padded last group
     * and ranges split over the pool (45 groups at 4096 inputs make chunks of at least 5).
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void quadsGiveTheSameBitsAnyCut(Fmt fmt) {
        Random rnd = new Random(11 + fmt.ordinal());
        for (int[] shape : new int[][] {{160, 5 * RowLaneGemv.R + 3}, {4096, 21 * RowLaneGemv.R + 3},
            {4096, 45 * RowLaneGemv.R + 3}, {64, RowLaneGemv.R}}) {
            int in = shape[0];
            int rows = shape[1];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
                RowLaneGemv p = pack(fmt, w, rows, in, arena);
                MemorySegment x = QuantMatmulTest.randomActivations(arena, rnd, 1, in);
                MemorySegment x2 = arena.allocate(8L * in);
                MemorySegment.copy(x, 0, x2, 0, 4L * in);
                MemorySegment.copy(x, 0, x2, 4L * in, 4L * in);
                MemorySegment single = arena.allocate(8L * rows);
                p.matmulQ8(x2, 0, 2, single, 0, 0, rows);
                MemorySegment want = single.asSlice(0, 4L * rows);
                assertEquals(-1, want.mismatch(single.asSlice(4L * rows, 4L * rows)), fmt + " " + in + "x" + rows
                        + ": the second copy of the token");
                RowLaneGemv.Operand op = operand(QuantMatmulTest.quantized(arena, x, 1, in), in);
                for (int r = 0; r < rows; r++) {
                    assertEquals(Float.floatToRawIntBits(p.rowScalar(op, 0, r)),
                            Float.floatToRawIntBits(want.get(F, 4L * r)), fmt + " " + in + "x" + rows + " row " + r
                                    + ": the scalar sums");
                }
                MemorySegment got = arena.allocate(4L * rows);
                p.matmulQ8Parallel(x, 0, 1, got, 0);
                assertEquals(-1, want.mismatch(got), in + "x" + rows + ": first differing byte (pool)");
                MemorySegment cut = arena.allocate(4L * rows);
                int[] cuts = java.util.stream.IntStream.of(0, 3, RowLaneGemv.R + 1, rows / 2, rows)
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
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void rowRangesWriteOnlyTheirRows(Fmt fmt) {
        Random rnd = new Random(9 + fmt.ordinal());
        int in = 96;
        int rows = 2 * RowLaneGemv.R + 5;
        int tokens = 2;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
            RowLaneGemv p = pack(fmt, w, rows, in, arena);
            MemorySegment xf = QuantMatmulTest.randomActivations(arena, rnd, tokens, in);
            MemorySegment full = arena.allocate(4L * rows * tokens);
            p.matmulQ8Parallel(xf, 0, tokens, full, 0);
            int r2 = 2 * RowLaneGemv.R;
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
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void panelsDecodeTheSourceCodes(Fmt fmt) {
        Random rnd = new Random(10 + fmt.ordinal());
        int rows = RowLaneGemv.R + 7;
        int in = 96;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
            MemorySegment x = QuantMatmulTest.randomActivations(arena, rnd, 9, in);
            if (fmt == Fmt.Q4_0) {
                Q4_0Lanes p = Q4_0Lanes.pack(w, 0, rows, in, arena);
                PanelChecks.decodesTheSourceCodes(PackedPanels.Q4_0_LANES, p, fmt, w, rows, in);
                PanelChecks.gemmWithinDotBound(PackedPanels.Q4_0_LANES, p, fmt, w, x, 9, rows, in, arena);
            } else {
                Q8_0Lanes p = Q8_0Lanes.pack(w, 0, rows, in, arena);
                PanelChecks.decodesTheSourceCodes(PackedPanels.Q8_0_LANES, p, fmt, w, rows, in);
                PanelChecks.gemmWithinDotBound(PackedPanels.Q8_0_LANES, p, fmt, w, x, 9, rows, in, arena);
            }
        }
    }

    /**
     * Q8_0's pair of products in one 16-bit accumulator at its limits: quants −128 (a file may hold them, though
     * llama.cpp's quantizer stops at −127) against codes ∓127 and ±127, so each pair sums to ±32512. The vector sums
     * equal the scalar integer path's bits and the exact value; one more product per accumulator would wrap.
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void extremeCodesStayExact(Fmt fmt) {
        int in = 256;
        int rows = RowLaneGemv.R + 1;
        try (Arena arena = Arena.ofShared()) {
            long rb = fmt.rowBytes(in);
            MemorySegment w = arena.allocate(rb * rows);
            for (int r = 0; r < rows; r++) {
                for (int b = 0; b < in / 32; b++) {
                    long o = r * rb + (long) b * fmt.blockBytes();
                    w.set(ValueLayout.JAVA_SHORT_UNALIGNED, o, Float.floatToFloat16(1f));
                    // Q8_0: −128 everywhere; Q4_0: nibble 0 (weight −8) everywhere
                    MemorySegment.copy(new byte[fmt.blockBytes() - 2], 0, w, ValueLayout.JAVA_BYTE, o + 2,
                            fmt.blockBytes() - 2);
                    if (fmt == Fmt.Q8_0) {
                        w.asSlice(o + 2, 32).fill((byte) 0x80);
                    }
                }
            }
            RowLaneGemv p = pack(fmt, w, rows, in, arena);
            MemorySegment x = arena.allocate(4L * in);
            for (int k = 0; k < in; k++) {
                x.set(F, 4L * k, k < in / 2 ? -1f : 1f); // codes −127 in the first half, +127 in the second
            }
            MemorySegment y = arena.allocate(4L * rows);
            p.matmulQ8Parallel(x, 0, 1, y, 0);
            int wq = fmt == Fmt.Q8_0 ? -128 : -8;
            // per element w·code·(1/127): the halves cancel, so check each half's block terms through a lopsided x
            double exact = 0;
            for (int k = 0; k < in; k++) {
                exact += wq * (k < in / 2 ? -127 : 127) * (double) (1f / 127f);
            }
            for (int r = 0; r < rows; r++) {
                assertEquals(exact, y.get(F, 4L * r), 1e-3, fmt + " row " + r);
            }
            for (int k = 0; k < in; k++) {
                x.set(F, 4L * k, -1f);
            }
            p.matmulQ8Parallel(x, 0, 1, y, 0);
            RowLaneGemv.Operand op = operand(QuantMatmulTest.quantized(arena, x, 1, in), in);
            double all = in * wq * -127 * (double) (1f / 127f);
            for (int r = 0; r < rows; r++) {
                assertEquals(all, y.get(F, 4L * r), Math.abs(all) * 1e-6, fmt + " row " + r + ", all codes −127");
                assertEquals(Float.floatToRawIntBits(p.rowScalar(op, 0, r)), Float.floatToRawIntBits(y.get(F, 4L * r)),
                        fmt + " row " + r + ": the scalar integer sums");
            }
        }
    }

    /**
     * Q4_0's 16-bit block sums at their limit. A block whose codes have {@code 15·Σ|x_q| ≤ 32767} is summed whole in
     * one 16-bit accumulator, and the nibbles are not masked apart (the sum wraps on the way and ends exact): all
     * nibbles 15 against codes of absolute sum 2184 (block 0, sum 15·2184 = 32760) is the largest sum that may take
     * that path; 2185 (block 1) must not, and would wrap if it did. Positive, negative and mixed signs, and random
     * nibbles at the limit, all equal the exact integer sums and the scalar path's bits.
     */
    @Test
    void fourBitBlockSumsAtTheSixteenBitLimit() {
        int in = 64;
        int rows = RowLaneGemv.R + 1;
        Random rnd = new Random(17);
        try (Arena arena = Arena.ofShared()) {
            long rb = Fmt.Q4_0.rowBytes(in);
            for (boolean randomNibbles : new boolean[] {false, true}) {
                MemorySegment w = arena.allocate(rb * rows);
                for (int r = 0; r < rows; r++) {
                    for (int b = 0; b < in / 32; b++) {
                        long o = r * rb + (long) b * Fmt.Q4_0.blockBytes();
                        w.set(ValueLayout.JAVA_SHORT_UNALIGNED, o, Float.floatToFloat16(1f));
                        for (int j = 0; j < 16; j++) {
                            w.set(ValueLayout.JAVA_BYTE, o + 2 + j, randomNibbles ? (byte) rnd.nextInt(256) : (byte) -1);
                        }
                    }
                }
                Q4_0Lanes p = Q4_0Lanes.pack(w, 0, rows, in, arena);
                for (int signs = 0; signs < 3; signs++) {
                    MemorySegment x = arena.allocate(4L * in);
                    int[] codes = new int[in];
                    for (int b = 0; b < 2; b++) {
                        // 127 (the block's amax, so codes are the values), eleven 67s and twenty 66s: Σ = 2184
                        for (int k = 0; k < 32; k++) {
                            int c = k == 0 ? 127 : k <= 11 ? 67 : 66;
                            if (b == 1 && k == 12) {
                                c++; // Σ = 2185
                            }
                            int sign = signs == 0 ? 1 : signs == 1 ? -1 : (k % 3 == 0 ? -1 : 1);
                            codes[32 * b + k] = sign * c;
                            x.set(F, 4L * (32 * b + k), sign * c);
                        }
                    }
                    assertTrue(RowLaneGemv.fitsSixteenBits(2184) && !RowLaneGemv.fitsSixteenBits(2185));
                    MemorySegment y = arena.allocate(4L * rows);
                    p.matmulQ8Parallel(x, 0, 1, y, 0);
                    RowLaneGemv.Operand op = operand(QuantMatmulTest.quantized(arena, x, 1, in), in);
                    for (int r = 0; r < rows; r++) {
                        float exact = 0;
                        for (int b = 0; b < 2; b++) {
                            int sum = 0;
                            for (int j = 0; j < 16; j++) {
                                int u = w.get(ValueLayout.JAVA_BYTE, r * rb + (long) b * Fmt.Q4_0.blockBytes() + 2 + j)
                                        & 0xff;
                                sum += ((u & 15) - 8) * codes[32 * b + j] + ((u >>> 4) - 8) * codes[32 * b + j + 16];
                            }
                            exact += sum; // integers below 2^24: exact in F32, as the kernel's fma with scale 1
                        }
                        String at = "random nibbles " + randomNibbles + ", signs " + signs + ", row " + r;
                        assertEquals(exact, y.get(F, 4L * r), at);
                        assertEquals(Float.floatToRawIntBits(p.rowScalar(op, 0, r)),
                                Float.floatToRawIntBits(y.get(F, 4L * r)), at + ": the scalar integer sums");
                    }
                }
            }
        }
    }

    /**
     * The prefill panels' column decode gives, bit for bit, what the row-by-row decode gives (codes, or codes times
     * the row's block scale), for every vector of rows inside a group, and declines (writing nothing) for rows that
     * start off a vector boundary or run past the matrix.
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void columnDecodeMatchesRowDecode(Fmt fmt) {
        Random rnd = new Random(13 + fmt.ordinal());
        int rows = 2 * RowLaneGemv.R + QuantVectors.L + 3;
        int in = 128;
        int lanes = QuantVectors.L;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
            RowLaneGemv p = pack(fmt, w, rows, in, arena);
            int stride = lanes + 5;
            for (boolean scaled : new boolean[] {false, true}) {
                for (int row0 = 0; row0 + lanes <= rows; row0 += lanes) {
                    for (int k0 = 0; k0 < in; k0 += 32) {
                        int kc = scaled ? in - k0 : 32;
                        float[] got = new float[kc * stride];
                        assertTrue(columns(fmt, p, row0, lanes, k0, kc, scaled, got, stride), "row " + row0);
                        for (int j = 0; j < lanes; j++) {
                            float[] row = new float[kc];
                            for (int k = 0; k < kc; k += 32) {
                                decodeRow(fmt, p, row0 + j, k0 + k, row, k);
                                for (int e = k; e < k + 32 && scaled; e++) {
                                    row[e] *= scale(fmt, p, row0 + j, (k0 + k) / 32);
                                }
                            }
                            for (int k = 0; k < kc; k++) {
                                assertEquals(Float.floatToRawIntBits(row[k]), Float.floatToRawIntBits(got[k * stride + j]),
                                        fmt + " scaled " + scaled + " row " + (row0 + j) + " input " + (k0 + k));
                            }
                        }
                    }
                }
                float[] untouched = new float[32 * stride];
                assertTrue(!columns(fmt, p, 3, lanes, 0, 32, scaled, untouched, stride), "an unaligned start");
                assertTrue(!columns(fmt, p, rows - lanes + 1, lanes, 0, 32, scaled, untouched, stride),
                        "rows past the matrix");
                for (float f : untouched) {
                    assertEquals(0f, f, "a declined call writes nothing");
                }
            }
        }
    }

    private static boolean columns(Fmt fmt, RowLaneGemv p, int row0, int n, int k0, int kc, boolean scaled,
            float[] dst, int stride) {
        return fmt == Fmt.Q4_0
                ? PackedPanels.Q4_0_LANES.decodeColumns((Q4_0Lanes) p, row0, n, k0, kc, scaled, dst, 0, stride)
                : PackedPanels.Q8_0_LANES.decodeColumns((Q8_0Lanes) p, row0, n, k0, kc, scaled, dst, 0, stride);
    }

    private static void decodeRow(Fmt fmt, RowLaneGemv p, int row, int k0, float[] dst, int off) {
        if (fmt == Fmt.Q4_0) {
            PackedPanels.Q4_0_LANES.decode((Q4_0Lanes) p, row, k0, 32, dst, off, 1);
        } else {
            PackedPanels.Q8_0_LANES.decode((Q8_0Lanes) p, row, k0, 32, dst, off, 1);
        }
    }

    private static float scale(Fmt fmt, RowLaneGemv p, int row, int block) {
        return fmt == Fmt.Q4_0 ? ((Q4_0Lanes) p).scale(row, block) : ((Q8_0Lanes) p).scale(row, block);
    }
}
