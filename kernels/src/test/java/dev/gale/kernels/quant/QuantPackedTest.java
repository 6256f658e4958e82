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

/** The packed decode layouts: exact round trip to llama.cpp's format, and the packed kernels against the references. */
@Tag("vector")
class QuantPackedTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Either format's packed classes behind one face, so every test runs on both formats: the Q8-activation kernels
     * are the row lanes ({@link Q4_0Lanes}, {@link Q8_0Lanes}), the F32 ones {@link Q4_0Packed} and
     * {@link Q8_0Packed}.
     */
    private record Packed(Q4_0Packed q4, Q8_0Packed q8, RowLaneGemv lanes) {
        static Packed of(Fmt fmt, MemorySegment w, int rows, int in, Arena arena) {
            return fmt == Fmt.Q4_0
                    ? new Packed(Q4_0Packed.pack(w, 0, rows, in, arena), null, Q4_0Lanes.pack(w, 0, rows, in, arena))
                    : new Packed(null, Q8_0Packed.pack(w, 0, rows, in, arena), Q8_0Lanes.pack(w, 0, rows, in, arena));
        }

        void dequantizeRow(int r, MemorySegment dst) {
            if (q4 != null) {
                q4.dequantizeRow(r, dst, 0);
            } else {
                q8.dequantizeRow(r, dst, 0);
            }
        }

        void exportRow(int r, MemorySegment dst) {
            if (q4 != null) {
                q4.exportRow(r, dst, 0);
            } else {
                q8.exportRow(r, dst, 0);
            }
        }

        void matmul(Q8Activations x, MemorySegment y, int s, int e) {
            lanes.matmul(x, y, 0, s, e);
        }

        void parallel(Q8Activations x, MemorySegment y) {
            lanes.matmulParallel(x, y, 0);
        }

        void matmulF32(MemorySegment x, int tokens, MemorySegment y, int s, int e) {
            if (q4 != null) {
                q4.matmulF32(x, 0, tokens, y, 0, s, e);
            } else {
                q8.matmulF32(x, 0, tokens, y, 0, s, e);
            }
        }

        void parallelF32(MemorySegment x, int tokens, MemorySegment y) {
            if (q4 != null) {
                q4.matmulF32Parallel(x, 0, tokens, y, 0);
            } else {
                q8.matmulF32Parallel(x, 0, tokens, y, 0);
            }
        }
    }

    /** Unpacking gives exactly the values {@code dequantize} gives from the original rows, and exporting the bytes. */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void packRoundTripIsExact(Fmt fmt) {
        Random rnd = new Random(51 + fmt.ordinal());
        for (int[] s : QuantMatmulTest.SHAPES) {
            int in = s[0];
            int rows = s[1];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, rnd.nextBoolean());
                Packed p = Packed.of(fmt, w, rows, in, arena);
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
                    p.dequantizeRow(r, got);
                    assertEquals(-1, want.mismatch(got), fmt + " " + in + "x" + rows + " row " + r + " values");
                    p.exportRow(r, bytes);
                    assertEquals(-1, w.asSlice(r * rb, rb).mismatch(bytes), fmt + " row " + r + " bytes");
                }
            }
        }
    }

    /** The Q8_0 group-block permutation puts the 4 rows' 128 quants on 128 distinct bytes after the 16 scale bytes. */
    @Test
    void q8PermutationFillsTheGroupBlockOnce() {
        boolean[] seen = new boolean[Q8_0Packed.GB];
        for (int rr = 0; rr < 4; rr++) {
            for (int e = 0; e < 32; e++) {
                int pos = Q8_0Packed.position(rr, e);
                assertTrue(pos >= Q8_0Packed.QOFF && pos < Q8_0Packed.GB && !seen[pos], "row " + rr + " element " + e
                        + " at " + pos);
                seen[pos] = true;
            }
        }
    }

    /** Unit scales and integer activations: every sum is an exact integer, so packed == reference bit for bit. */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void q8ActivationsBitExactOnIntegers(Fmt fmt) {
        Random rnd = new Random(61 + fmt.ordinal());
        for (int[] s : QuantMatmulTest.SHAPES) {
            int in = s[0];
            int rows = s[1];
            int tokens = s[2];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, true);
                Packed p = Packed.of(fmt, w, rows, in, arena);
                Q8Activations x = QuantMatmulTest.quantized(arena,
                        QuantMatmulTest.integerActivations(arena, rnd, tokens, in), tokens, in);
                MemorySegment want = arena.allocate(4L * rows * tokens);
                MemorySegment got = arena.allocate(4L * rows * tokens);
                MemorySegment par = arena.allocate(4L * rows * tokens);
                fmt.reference(w, rows, in, x, want);
                p.matmul(x, got, 0, rows);
                p.parallel(x, par);
                for (int i = 0; i < rows * tokens; i++) {
                    String at = fmt + " " + in + "x" + rows + "x" + tokens + " at " + i;
                    assertEquals(want.get(F, 4L * i), got.get(F, 4L * i), at);
                    assertEquals(want.get(F, 4L * i), par.get(F, 4L * i), "parallel " + at);
                }
            }
        }
    }

    /**
     * Random weights and activations: Q8 path within F32 summation error of the reference's block terms; F32 path
     * within the F32 dot error of the exact product, taken over the terms the kernel adds (for Q4_0 the block sum
     * starts at −8·Σx and adds v·xl + hi·(xh − 16·xl) with v the nibble byte, see {@link Q4_0Packed}).
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void randomValuesWithinBounds(Fmt fmt) {
        Random rnd = new Random(71 + fmt.ordinal());
        for (int[] s : QuantMatmulTest.SHAPES) {
            int in = s[0];
            int rows = s[1];
            int tokens = s[2];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
                Packed p = Packed.of(fmt, w, rows, in, arena);
                MemorySegment xf = QuantMatmulTest.randomActivations(arena, rnd, tokens, in);
                Q8Activations x = QuantMatmulTest.quantized(arena, xf, tokens, in);
                MemorySegment want = arena.allocate(4L * rows * tokens);
                MemorySegment got = arena.allocate(4L * rows * tokens);
                MemorySegment par = arena.allocate(4L * rows * tokens);
                MemorySegment gotF = arena.allocate(4L * rows * tokens);
                MemorySegment parF = arena.allocate(4L * rows * tokens);
                fmt.reference(w, rows, in, x, want);
                p.matmul(x, got, 0, rows);
                p.parallel(x, par);
                p.matmulF32(xf, tokens, gotF, 0, rows);
                p.parallelF32(xf, tokens, parF);
                long rb = fmt.rowBytes(in);
                for (int t = 0; t < tokens; t++) {
                    for (int r = 0; r < rows; r++) {
                        double[] m = terms(fmt, w, rb, xf, x, in, t, r);
                        double termScale = m[0];
                        double f32Terms = m[1];
                        double exact = m[2];
                        long o = 4L * ((long) t * rows + r);
                        String at = fmt + " " + in + "x" + rows + "x" + tokens + " t" + t + " r" + r;
                        double q8Bound = Numerics.dotBound(termScale, in);
                        assertTrue(Math.abs(got.get(F, o) - want.get(F, o)) <= q8Bound, "q8 " + at + ": "
                                + got.get(F, o) + " vs " + want.get(F, o));
                        assertTrue(Math.abs(par.get(F, o) - want.get(F, o)) <= q8Bound, "q8 parallel " + at);
                        double f32Bound = Numerics.dotBound(f32Terms, in + 64);
                        assertTrue(Math.abs(gotF.get(F, o) - exact) <= f32Bound, "f32 " + at + ": "
                                + gotF.get(F, o) + " vs " + exact);
                        assertTrue(Math.abs(parF.get(F, o) - exact) <= f32Bound, "f32 parallel " + at);
                    }
                }
            }
        }
    }

    /**
     * Every block of every row through the panel codec, decoded contiguously (the vector path GemmKernel uses) and
     * down a strided column (element by element), equals the source codes, and the scale the block's {@code d}; rows
     * not a multiple of the 4-row group, so the last group's padding rows are never read as codes.
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void panelCodecDecodesTheSourceCodes(Fmt fmt) {
        Random rnd = new Random(17 + fmt.ordinal());
        int rows = 7;
        int in = 96;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
            Packed p = Packed.of(fmt, w, rows, in, arena);
            if (p.q4() != null) {
                PanelChecks.decodesTheSourceCodes(PackedPanels.Q4_0, p.q4(), fmt, w, rows, in);
            } else {
                PanelChecks.decodesTheSourceCodes(PackedPanels.Q8_0, p.q8(), fmt, w, rows, in);
            }
        }
    }

    /**
     * The prefill GEMM over dequantized panels ({@link PackedPanels}) against the exact product of the dequantized
     * weights (each {@code d·q} is exact in F32) in double, within the F32 dot bound of {@code Σ|w·x|}: shapes with a
     * ragged last panel (rows not a multiple of the 16-output panel), leftover tokens past the 4-token tile, and inputs
     * past one 256-input block.
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void gemmOverDequantizedPanels(Fmt fmt) {
        Random rnd = new Random(91 + fmt.ordinal());
        int[][] shapes = {{32, 1, 1}, {64, 33, 17}, {320, 70, 37}, {544, 16, 8}, {256, 130, 9}};
        for (int[] s : shapes) {
            int in = s[0];
            int rows = s[1];
            int tokens = s[2];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
                Packed p = Packed.of(fmt, w, rows, in, arena);
                MemorySegment xf = QuantMatmulTest.randomActivations(arena, rnd, tokens, in);
                MemorySegment got = p.q4() != null
                        ? PanelChecks.gemmWithinDotBound(PackedPanels.Q4_0, p.q4(), fmt, w, xf, tokens, rows, in, arena)
                        : PanelChecks.gemmWithinDotBound(PackedPanels.Q8_0, p.q8(), fmt, w, xf, tokens, rows, in, arena);
                // one thread over rows [1, rows): the same bits as the parallel call (per-output order is fixed)
                MemorySegment part = arena.allocate(4L * rows * tokens);
                if (p.q4() != null) {
                    dev.gale.kernels.gemm.GemmBlockScaled.outputsDequantized(PackedPanels.Q4_0, p.q4(), xf, 0, part,
                            0, tokens, rows, in, 1, rows);
                } else {
                    dev.gale.kernels.gemm.GemmBlockScaled.outputsDequantized(PackedPanels.Q8_0, p.q8(), xf, 0, part,
                            0, tokens, rows, in, 1, rows);
                }
                for (int t = 0; t < tokens; t++) {
                    assertEquals(0f, part.get(F, 4L * t * rows), "row 0 is outside the range");
                    for (int r = 1; r < rows; r++) {
                        assertEquals(got.get(F, 4L * ((long) t * rows + r)), part.get(F, 4L * ((long) t * rows + r)));
                    }
                }
            }
        }
    }

    /**
     * For row {@code r} and token {@code t}: the Q8 path's block-term scale {@code Σ_b |d_w·d_x|·(Σ|q_w·q_x| (+ 8|Σq_x|
     * for Q4))}, the F32 path's term scale {@code Σ_b |d_w|·Σ|terms added|} (Q8_0: {@code Σ|q·x|}; Q4_0: see
     * {@link Q4_0Packed}), and the exact F32 product in double.
     */
    private static double[] terms(Fmt fmt, MemorySegment w, long rb, MemorySegment xf, Q8Activations x, int in, int t,
            int r) {
        double termScale = 0;
        double f32Terms = 0;
        double exact = 0;
        for (int b = 0; b < in / 32; b++) {
            double dw = fmt.d(w, r * rb, b);
            double blockAbs = 0;
            double blockF = 0;
            double sx = 0;
            for (int j = 0; j < 32; j++) {
                int k = b * 32 + j;
                int qw = fmt.q(w, r * rb, k);
                double xv = xf.get(F, 4L * ((long) t * in + k));
                blockAbs += Math.abs((fmt == Fmt.Q8_0 ? qw : qw + 8) * x.q(t, k));
                exact += dw * qw * xv;
                blockF += Math.abs((fmt == Fmt.Q8_0 ? qw : qw + 8) * xv);
                sx += xv;
            }
            if (fmt == Fmt.Q4_0) {
                blockAbs += 8 * Math.abs(x.sum(t, b));
                // The kernel adds v·xl and hi·(xh − 16·xl) with v = lo + 16·hi, then starts from −8·Σx.
                blockF = 8 * Math.abs(sx);
                for (int j = 0; j < 16; j++) {
                    int lo = fmt.q(w, r * rb, b * 32 + j) + 8;
                    int hi = fmt.q(w, r * rb, b * 32 + j + 16) + 8;
                    double xl = xf.get(F, 4L * ((long) t * in + b * 32 + j));
                    double xh = xf.get(F, 4L * ((long) t * in + b * 32 + j + 16));
                    blockF += Math.abs((lo + 16 * hi) * xl) + Math.abs(hi * (xh - 16 * xl));
                }
            }
            termScale += Math.abs((float) dw * x.scale(t, b)) * blockAbs;
            f32Terms += Math.abs(dw) * blockF;
        }
        return new double[] {termScale, f32Terms, exact};
    }

    /**
     * A row range writes exactly its rows (unaligned starts and ends inside a 4-row group included), with the values
     * of the full run within twice the summation bound (the lane reduction may associate differently before and after
     * C2 compiles the kernel).
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void rowRangesWriteOnlyTheirRows(Fmt fmt) {
        Random rnd = new Random(81 + fmt.ordinal());
        int in = 96;
        int rows = 11;
        int tokens = 3;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
            Packed p = Packed.of(fmt, w, rows, in, arena);
            MemorySegment xf = QuantMatmulTest.randomActivations(arena, rnd, tokens, in);
            Q8Activations x = QuantMatmulTest.quantized(arena, xf, tokens, in);
            MemorySegment full = arena.allocate(4L * rows * tokens);
            MemorySegment fullF = arena.allocate(4L * rows * tokens);
            p.matmul(x, full, 0, rows);
            p.matmulF32(xf, tokens, fullF, 0, rows);
            int[][] ranges = {{0, 11}, {1, 3}, {2, 7}, {5, 5}, {4, 8}, {9, 11}, {3, 10}};
            for (int[] range : ranges) {
                MemorySegment part = arena.allocate(4L * rows * tokens);
                MemorySegment partF = arena.allocate(4L * rows * tokens);
                part.fill((byte) 0x7f);
                partF.fill((byte) 0x7f);
                p.matmul(x, part, range[0], range[1]);
                p.matmulF32(xf, tokens, partF, range[0], range[1]);
                for (int t = 0; t < tokens; t++) {
                    for (int r = 0; r < rows; r++) {
                        long o = 4L * (t * rows + r);
                        String at = fmt + " t" + t + " r" + r + " range " + range[0] + ".." + range[1];
                        if (r >= range[0] && r < range[1]) {
                            double[] m = terms(fmt, w, fmt.rowBytes(in), xf, x, in, t, r);
                            assertEquals(full.get(F, o), part.get(F, o), 2 * Numerics.dotBound(m[0], in), "q8 " + at);
                            assertEquals(fullF.get(F, o), partF.get(F, o), 2 * Numerics.dotBound(m[1], in + 64),
                                    "f32 " + at);
                        } else {
                            assertEquals(0x7f7f7f7f, part.get(ValueLayout.JAVA_INT_UNALIGNED, o), "q8 " + at);
                            assertEquals(0x7f7f7f7f, partF.get(ValueLayout.JAVA_INT_UNALIGNED, o), "f32 " + at);
                        }
                    }
                }
            }
        }
    }
}
