package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Q8_0/Q4_0 GEMV and GEMM, Q8 and F32 activations, Vector API against the scalar references. */
@Tag("vector")
class QuantMatmulTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    enum Fmt {
        Q8_0, Q4_0;

        long rowBytes(int in) {
            return this == Q8_0 ? dev.gale.kernels.quant.Q8_0.rowBytes(in) : dev.gale.kernels.quant.Q4_0.rowBytes(in);
        }

        int blockBytes() {
            return this == Q8_0 ? 34 : 18;
        }

        /** Integer weight value (q, or nib − 8) of element k of the row at {@code rowOff}. */
        int q(MemorySegment w, long rowOff, int k) {
            long o = rowOff + (long) (k / 32) * blockBytes();
            return this == Q8_0 ? w.get(ValueLayout.JAVA_BYTE, o + 2 + k % 32)
                    : dev.gale.kernels.quant.Q4_0.nibble(w, o, k % 32) - 8;
        }

        float d(MemorySegment w, long rowOff, int block) {
            return Float.float16ToFloat(w.get(H, rowOff + (long) block * blockBytes()));
        }

        void reference(MemorySegment w, int rows, int in, Q8Activations x, MemorySegment y) {
            if (this == Q8_0) {
                Q8_0Matmul.INSTANCE.reference(w, 0, rows, in, x, y, 0);
            } else {
                Q4_0Matmul.INSTANCE.reference(w, 0, rows, in, x, y, 0);
            }
        }

        void matmul(MemorySegment w, int rows, int in, Q8Activations x, MemorySegment y, int s, int e) {
            if (this == Q8_0) {
                Q8_0Matmul.INSTANCE.matmul(w, 0, rows, in, x, y, 0, s, e);
            } else {
                Q4_0Matmul.INSTANCE.matmul(w, 0, rows, in, x, y, 0, s, e);
            }
        }

        void parallel(MemorySegment w, int rows, int in, Q8Activations x, MemorySegment y) {
            if (this == Q8_0) {
                Q8_0Matmul.INSTANCE.matmulParallel(w, 0, rows, in, x, y, 0);
            } else {
                Q4_0Matmul.INSTANCE.matmulParallel(w, 0, rows, in, x, y, 0);
            }
        }

        void referenceF32(MemorySegment w, int rows, int in, MemorySegment x, int tokens, MemorySegment y) {
            if (this == Q8_0) {
                Q8_0Matmul.INSTANCE.referenceF32(w, 0, rows, in, x, 0, tokens, y, 0);
            } else {
                Q4_0Matmul.INSTANCE.referenceF32(w, 0, rows, in, x, 0, tokens, y, 0);
            }
        }

        void matmulF32(MemorySegment w, int rows, int in, MemorySegment x, int tokens, MemorySegment y, int s,
                int e) {
            if (this == Q8_0) {
                Q8_0Matmul.INSTANCE.matmulF32(w, 0, rows, in, x, 0, tokens, y, 0, s, e);
            } else {
                Q4_0Matmul.INSTANCE.matmulF32(w, 0, rows, in, x, 0, tokens, y, 0, s, e);
            }
        }

        void parallelF32(MemorySegment w, int rows, int in, MemorySegment x, int tokens, MemorySegment y) {
            if (this == Q8_0) {
                Q8_0Matmul.INSTANCE.matmulF32Parallel(w, 0, rows, in, x, 0, tokens, y, 0);
            } else {
                Q4_0Matmul.INSTANCE.matmulF32Parallel(w, 0, rows, in, x, 0, tokens, y, 0);
            }
        }

        /** Random weights with scale 1 (the integer test) or with quantized random values. */
        MemorySegment weights(Arena arena, Random rnd, int rows, int in, boolean unitScale) {
            long rb = rowBytes(in);
            MemorySegment w = arena.allocate(rb * rows, 64);
            if (unitScale) {
                for (long o = 0; o < rb * rows; o += blockBytes()) {
                    w.set(H, o, Float.floatToFloat16(1f));
                    for (int j = 2; j < blockBytes(); j++) {
                        int v = this == Q8_0
                                ? (rnd.nextInt(50) == 0 ? Byte.MIN_VALUE : rnd.nextInt(17) - 8)
                                : rnd.nextInt(256);
                        w.set(ValueLayout.JAVA_BYTE, o + j, (byte) v);
                    }
                }
                return w;
            }
            MemorySegment row = arena.allocate(4L * in);
            for (int r = 0; r < rows; r++) {
                double mag = Math.pow(2, rnd.nextInt(6) - 3);
                for (int k = 0; k < in; k++) {
                    row.set(F, 4L * k, (float) (rnd.nextGaussian() * mag));
                }
                if (this == Q8_0) {
                    dev.gale.kernels.quant.Q8_0.quantize(row, 0, w, r * rb, in);
                } else {
                    dev.gale.kernels.quant.Q4_0.quantize(row, 0, w, r * rb, in);
                }
            }
            return w;
        }
    }

    static final int[][] SHAPES = { // in, rows, tokens
        {32, 1, 1}, {32, 7, 3}, {64, 33, 1}, {64, 31, 17}, {4064, 7, 1}, {4128, 33, 3}, {4128, 5, 17},
        {64, 4097, 1}, {32, 4097, 5}, {256, 130, 9}
    };

    /** Activations whose every block has amax exactly 127 (so d = 1 and q = x) and small other values. */
    static MemorySegment integerActivations(Arena arena, Random rnd, int tokens, int in) {
        MemorySegment x = arena.allocate(4L * tokens * in, 64);
        for (int i = 0; i < tokens * in; i++) {
            float v = i % 32 == rnd.nextInt(32) % 32 ? 127 : rnd.nextInt(15) - 7;
            if (i % 32 == 31) {
                v = rnd.nextBoolean() ? 127 : -127;
            }
            x.set(F, 4L * i, v);
        }
        return x;
    }

    static MemorySegment randomActivations(Arena arena, Random rnd, int tokens, int in) {
        MemorySegment x = arena.allocate(4L * tokens * in, 64);
        for (int i = 0; i < tokens * in; i++) {
            x.set(F, 4L * i, (float) (rnd.nextGaussian() * (1 + (i / 32) % 5)));
        }
        return x;
    }

    static Q8Activations quantized(Arena arena, MemorySegment x, int tokens, int in) {
        Q8Activations a = new Q8Activations(arena.allocate(Q8Activations.scratchBytes(tokens, in), 64), 0, tokens,
                in);
        a.quantize(x, 0, tokens);
        return a;
    }

    /**
     * Unit scales and integer activations: every block dot is an integer and every partial sum stays below 2^24, so
     * F32 arithmetic is exact in any order and the vector path must equal the reference bit for bit. Covers Q8_0
     * weights of −128 against activations of ±127 (the int16 pair sums' extreme).
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void integerSumsAreBitExact(Fmt fmt) {
        Random rnd = new Random(21 + fmt.ordinal());
        for (int[] s : SHAPES) {
            int in = s[0];
            int rows = s[1];
            int tokens = s[2];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, true);
                Q8Activations x = quantized(arena, integerActivations(arena, rnd, tokens, in), tokens, in);
                MemorySegment want = arena.allocate(4L * rows * tokens);
                MemorySegment got = arena.allocate(4L * rows * tokens);
                MemorySegment par = arena.allocate(4L * rows * tokens);
                fmt.reference(w, rows, in, x, want);
                fmt.matmul(w, rows, in, x, got, 0, rows);
                fmt.parallel(w, rows, in, x, par);
                for (int i = 0; i < rows * tokens; i++) {
                    assertEquals(want.get(F, 4L * i), got.get(F, 4L * i), fmt + " " + in + "x" + rows + "x" + tokens
                            + " at " + i);
                    assertEquals(want.get(F, 4L * i), par.get(F, 4L * i), "parallel at " + i);
                }
            }
        }
        // The int16 extreme: Q8_0 weights all −128, activations all −127: 32·128·127 per block.
        if (fmt == Fmt.Q8_0) {
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = arena.allocate(34L * 4, 64);
                for (int r = 0; r < 4; r++) {
                    w.set(H, 34L * r, Float.floatToFloat16(1f));
                    for (int j = 0; j < 32; j++) {
                        w.set(ValueLayout.JAVA_BYTE, 34L * r + 2 + j, Byte.MIN_VALUE);
                    }
                }
                float[] v = new float[32];
                java.util.Arrays.fill(v, -127f);
                Q8Activations x = quantized(arena, QuantFormatTest.floats(arena, v), 1, 32);
                MemorySegment y = arena.allocate(16);
                fmt.matmul(w, 4, 32, x, y, 0, 4);
                for (int r = 0; r < 4; r++) {
                    assertEquals(32f * 128 * 127, y.get(F, 4L * r));
                }
            }
        }
    }

    /**
     * Random scales: against the reference, within F32 summation error of the block terms; against the exact F32
     * product, within the activation rounding error Σ|w|·d_x/2 per block plus that summation error.
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void q8ActivationPathWithinQuantizationBounds(Fmt fmt) {
        Random rnd = new Random(31 + fmt.ordinal());
        for (int[] s : SHAPES) {
            int in = s[0];
            int rows = s[1];
            int tokens = s[2];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
                MemorySegment xf = randomActivations(arena, rnd, tokens, in);
                Q8Activations x = quantized(arena, xf, tokens, in);
                MemorySegment want = arena.allocate(4L * rows * tokens);
                MemorySegment got = arena.allocate(4L * rows * tokens);
                fmt.reference(w, rows, in, x, want);
                fmt.matmul(w, rows, in, x, got, 0, rows);
                long rb = fmt.rowBytes(in);
                for (int t = 0; t < tokens; t++) {
                    for (int r = 0; r < rows; r++) {
                        double termScale = 0; // Σ_b |d_w d_x|·(Σ|q_w q_x| + 8|Σq_x| for Q4)
                        double exact = 0;
                        double sumAbs = 0;
                        double roundErr = 0;
                        for (int b = 0; b < in / 32; b++) {
                            double dw = fmt.d(w, r * rb, b);
                            double dx = x.scale(t, b);
                            double blockAbs = 0;
                            for (int j = 0; j < 32; j++) {
                                int k = b * 32 + j;
                                int qw = fmt.q(w, r * rb, k);
                                blockAbs += Math.abs((fmt == Fmt.Q8_0 ? qw : qw + 8) * x.q(t, k));
                                double wv = dw * qw;
                                double xv = xf.get(F, 4L * ((long) t * in + k));
                                exact += wv * xv;
                                sumAbs += Math.abs(wv * xv);
                                roundErr += Math.abs(wv) * dx / 2;
                            }
                            if (fmt == Fmt.Q4_0) {
                                blockAbs += 8 * Math.abs(x.sum(t, b));
                            }
                            termScale += Math.abs((float) dw * (float) dx) * blockAbs;
                        }
                        double g = got.get(F, 4L * ((long) t * rows + r));
                        double ref = want.get(F, 4L * ((long) t * rows + r));
                        assertTrue(Math.abs(g - ref) <= Numerics.dotBound(termScale, in),
                                fmt + " vs reference at t" + t + " r" + r + ": " + g + " vs " + ref);
                        double bound = roundErr * (1 + 1e-5) + Numerics.dotBound(sumAbs + termScale, in);
                        assertTrue(Math.abs(g - exact) <= bound, fmt + " vs exact at t" + t + " r" + r + ": " + g
                                + " vs " + exact + " bound " + bound);
                    }
                }
            }
        }
    }

    /** F32 activations: reference, single thread and parallel within F32 dot error of the exact product. */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void f32ActivationPathWithinDotBound(Fmt fmt) {
        Random rnd = new Random(41 + fmt.ordinal());
        for (int[] s : SHAPES) {
            int in = s[0];
            int rows = s[1];
            int tokens = s[2];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
                MemorySegment x = randomActivations(arena, rnd, tokens, in);
                MemorySegment ref = arena.allocate(4L * rows * tokens);
                MemorySegment got = arena.allocate(4L * rows * tokens);
                MemorySegment par = arena.allocate(4L * rows * tokens);
                fmt.referenceF32(w, rows, in, x, tokens, ref);
                fmt.matmulF32(w, rows, in, x, tokens, got, 0, rows);
                fmt.parallelF32(w, rows, in, x, tokens, par);
                long rb = fmt.rowBytes(in);
                for (int t = 0; t < tokens; t++) {
                    for (int r = 0; r < rows; r++) {
                        double exact = 0;
                        double sumAbs = 0;
                        for (int k = 0; k < in; k++) {
                            double p = (double) fmt.d(w, r * rb, k / 32) * fmt.q(w, r * rb, k)
                                    * x.get(F, 4L * ((long) t * in + k));
                            exact += p;
                            sumAbs += Math.abs(p);
                        }
                        double bound = Numerics.dotBound(sumAbs, in);
                        long o = 4L * ((long) t * rows + r);
                        String at = fmt + " " + in + "x" + rows + "x" + tokens + " t" + t + " r" + r;
                        assertTrue(Math.abs(ref.get(F, o) - exact) <= bound, "reference " + at);
                        assertTrue(Math.abs(got.get(F, o) - exact) <= bound, "vector " + at + ": " + got.get(F, o)
                                + " vs " + exact);
                        assertTrue(Math.abs(par.get(F, o) - exact) <= bound, "parallel " + at);
                    }
                }
            }
        }
    }

    /**
     * A row range writes exactly its rows, with the same values as the whole range up to the order of the final lane
     * reduction ({@code reduceLanes} may associate differently before and after C2 compiles a kernel).
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void rowRangesWriteOnlyTheirRows(Fmt fmt) {
        Random rnd = new Random(51);
        int in = 128;
        int rows = 23;
        int tokens = 5;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
            MemorySegment xf = randomActivations(arena, rnd, tokens, in);
            Q8Activations x = quantized(arena, xf, tokens, in);
            MemorySegment full = arena.allocate(4L * rows * tokens);
            fmt.matmul(w, rows, in, x, full, 0, rows);
            MemorySegment fullF = arena.allocate(4L * rows * tokens);
            fmt.matmulF32(w, rows, in, xf, tokens, fullF, 0, rows);
            MemorySegment part = arena.allocate(4L * rows * tokens);
            MemorySegment partF = arena.allocate(4L * rows * tokens);
            part.fill((byte) 0x7f);
            partF.fill((byte) 0x7f);
            int[] cuts = {0, 3, 10, 11, 23};
            for (int c = 0; c + 1 < cuts.length; c++) {
                fmt.matmul(w, rows, in, x, part, cuts[c], cuts[c + 1]);
                fmt.matmulF32(w, rows, in, xf, tokens, partF, cuts[c], cuts[c + 1]);
            }
            long rb = fmt.rowBytes(in);
            for (int t = 0; t < tokens; t++) {
                for (int r = 0; r < rows; r++) {
                    // Both runs are within the summation bound of the same block terms, so of each other within two.
                    double scale = 0;
                    for (int b = 0; b < in / 32; b++) {
                        double blockAbs = fmt == Fmt.Q4_0 ? 8 * Math.abs(x.sum(t, b)) : 0;
                        for (int j = 0; j < 32; j++) {
                            int k = b * 32 + j;
                            int qw = fmt.q(w, r * rb, k);
                            blockAbs += Math.abs((fmt == Fmt.Q8_0 ? qw : qw + 8) * x.q(t, k))
                                    + Math.abs(qw * xf.get(F, 4L * ((long) t * in + k)) / x.scale(t, b));
                        }
                        scale += Math.abs(fmt.d(w, r * rb, b) * x.scale(t, b)) * blockAbs;
                    }
                    double tol = 2 * Numerics.dotBound(scale, in);
                    long o = 4L * ((long) t * rows + r);
                    assertEquals(full.get(F, o), part.get(F, o), tol, "q8 path at t" + t + " r" + r);
                    assertEquals(fullF.get(F, o), partF.get(F, o), tol, "f32 path at t" + t + " r" + r);
                }
            }
        }
    }

    /**
     * Zero blocks give 0 (no NaN from a zero scale); a NaN or Inf activation makes every output of its token NaN
     * on the Q8 path (documented in {@link Q8Activations}), and NaN/±Inf as F32 arithmetic gives on the F32 path.
     */
    @ParameterizedTest
    @EnumSource(Fmt.class)
    void specialActivationValues(Fmt fmt) {
        Random rnd = new Random(61);
        int in = 96;
        int rows = 6;
        int tokens = 3;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = fmt.weights(arena, rnd, rows, in, false);
            MemorySegment xf = arena.allocate(4L * tokens * in);
            // token 0: all zeros; token 1: a NaN in block 1; token 2: +Inf in block 2
            for (int k = 0; k < in; k++) {
                xf.set(F, 4L * (in + k), k % 3 - 1f);
                xf.set(F, 4L * (2 * in + k), k % 5 - 2f);
            }
            xf.set(F, 4L * (in + 40), Float.NaN);
            xf.set(F, 4L * (2 * in + 70), Float.POSITIVE_INFINITY);
            Q8Activations x = quantized(arena, xf, tokens, in);
            MemorySegment y = arena.allocate(4L * rows * tokens);
            MemorySegment yr = arena.allocate(4L * rows * tokens);
            MemorySegment yf = arena.allocate(4L * rows * tokens);
            fmt.matmul(w, rows, in, x, y, 0, rows);
            fmt.reference(w, rows, in, x, yr);
            fmt.matmulF32(w, rows, in, xf, tokens, yf, 0, rows);
            for (int r = 0; r < rows; r++) {
                assertEquals(0f, y.get(F, 4L * r));
                assertEquals(0f, yf.get(F, 4L * r));
                assertTrue(Float.isNaN(y.get(F, 4L * (rows + r))));
                assertTrue(Float.isNaN(yr.get(F, 4L * (rows + r))));
                assertTrue(Float.isNaN(yf.get(F, 4L * (rows + r))));
                assertTrue(Float.isNaN(y.get(F, 4L * (2 * rows + r))));
                float inf = yf.get(F, 4L * (2 * rows + r));
                assertTrue(Float.isNaN(inf) || Float.isInfinite(inf));
            }
        }
    }
}
