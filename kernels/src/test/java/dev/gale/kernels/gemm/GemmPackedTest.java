package dev.gale.kernels.gemm;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.gale.kernels.activation.Gelu;
import dev.gale.kernels.quant.DynamicQuantU8;
import dev.gale.kernels.quant.GemmU8S8;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link GemmPacked} on pre-packed weights: F32 against the double truth, its fused bias and GELU against the unfused
 * steps bit for bit, the result independent of the thread split, and u8s8 bit for bit {@link GemmU8S8}'s reference,
 * including sums past 2²⁴ where one F32 chain would round.
 */
@Tag("vector")
class GemmPackedTest {
    private static final int NR = GemmKernel.NR;
    private static final int MR = GemmKernel.MR;

    /** Partial token tiles, partial panels, token blocks ending mid-range; split over panels and over tokens. */
    @Test
    void f32MatchesTruthOnAwkwardShapes() {
        SplittableRandom rnd = new SplittableRandom(3);
        int[][] shapes = {{1, 5, 7}, {3, NR - 1, 33}, {7, NR + 3, 1}, {9, 3 * NR + 7, 300}, {2 * MR + 1, NR, 700},
            {200, NR + 5, 37}, {70, 2 * NR, 1536}, {5, 4 * NR + 1, 513}};
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : shapes) {
                int tokens = s[0];
                int out = s[1];
                int in = s[2];
                MemorySegment w = Data.randomF32(arena, (long) out * in, rnd);
                MemorySegment x = Data.randomF32(arena, (long) tokens * in, rnd);
                MemorySegment y = Data.alloc(arena, (long) tokens * out, 4);
                PackedWeights pw = PackedWeights.rows(w, Data.OFF, out, in);
                GemmPacked.gemm(pw, x, Data.OFF, y, Data.OFF, tokens, null, false);
                Data.checkAgainstTruth("packed " + tokens + "x" + out + "x" + in, w, false, x, y, tokens, out, in);
                // The first tokens alone (another split: fewer tokens than outputs flips to panels) give the same bits.
                int some = Math.max(1, tokens / 3);
                MemorySegment y2 = Data.alloc(arena, (long) some * out, 4);
                GemmPacked.gemm(pw, x, Data.OFF, y2, Data.OFF, some, null, false);
                Data.assertSameBits("packed split " + tokens + "x" + out + "x" + in, y2, y, (long) some * out);
            }
        }
    }

    /** Bias and GELU fused into the epilogue give exactly the bits of the product, a float add, then Gelu.apply. */
    @Test
    void fusedBiasAndGeluAreTheUnfusedSteps() {
        SplittableRandom rnd = new SplittableRandom(11);
        int[][] shapes = {{9, 3 * NR + 7, 45}, {150, 2 * NR + 3, 384}};
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : shapes) {
                int tokens = s[0];
                int out = s[1];
                int in = s[2];
                PackedWeights pw = PackedWeights.rows(Data.randomF32(arena, (long) out * in, rnd), Data.OFF, out, in);
                MemorySegment x = Data.randomF32(arena, (long) tokens * in, rnd);
                MemorySegment bias = arena.allocate(4L * out);
                for (int o = 0; o < out; o++) {
                    bias.setAtIndex(Data.F32, o, Data.value(rnd));
                }
                long n = (long) tokens * out;
                MemorySegment fused = Data.alloc(arena, n, 4);
                MemorySegment steps = Data.alloc(arena, n, 4);
                GemmPacked.gemm(pw, x, Data.OFF, fused, Data.OFF, tokens, bias, true);
                GemmPacked.gemm(pw, x, Data.OFF, steps, Data.OFF, tokens, null, false);
                for (long i = 0; i < n; i++) {
                    Data.set(steps, i, Data.get(steps, i) + bias.getAtIndex(Data.F32, (int) (i % out)));
                }
                Gelu.apply(Gelu.Variant.ERF, steps, Data.OFF, steps, Data.OFF, n);
                Data.assertSameBits("fused bias+gelu " + tokens + "x" + out + "x" + in, fused, steps, n);
            }
        }
    }

    /**
     * u8s8 equals GemmU8S8's reference bit for bit: random levels, and the extreme operands (q − zp = ±255, w = −128)
     * whose sums exceed 2²⁴ at 1536 inputs, over sentences with different zero points.
     */
    @Test
    void u8s8IsTheReferenceBitForBit() {
        SplittableRandom rnd = new SplittableRandom(7);
        int[][] shapes = {{2, 3, 5, NR + 3}, {3, 8, 384, 2 * NR}, {2, 5, 513, NR - 1}, {2, 64, 1536, NR + 1}};
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : shapes) {
                for (boolean extreme : new boolean[] {false, true}) {
                    int batch = s[0];
                    int seq = s[1];
                    int in = s[2];
                    int out = s[3];
                    int rows = batch * seq;
                    MemorySegment q = arena.allocate((long) rows * in);
                    MemorySegment w = arena.allocate((long) in * out);
                    MemorySegment params = arena.allocate(8L * batch);
                    MemorySegment wScale = arena.allocate(4L * out);
                    MemorySegment bias = arena.allocate(4L * out);
                    for (long i = 0; i < (long) rows * in; i++) {
                        q.set(JAVA_BYTE, i, (byte) (extreme ? (i % 7 == 0 ? 0 : 255) : rnd.nextInt(256)));
                    }
                    for (long i = 0; i < (long) in * out; i++) {
                        w.set(JAVA_BYTE, i, (byte) (extreme ? -128 : rnd.nextInt(256) - 128));
                    }
                    for (int b = 0; b < batch; b++) {
                        params.setAtIndex(Data.F32, 2L * b, (float) (rnd.nextDouble() * 0.1 + 1e-3));
                        params.setAtIndex(Data.F32, 2L * b + 1, extreme ? (b % 2 == 0 ? 0 : 255) : rnd.nextInt(256));
                    }
                    for (int o = 0; o < out; o++) {
                        wScale.setAtIndex(Data.F32, o, (float) (rnd.nextDouble() * 0.02 + 1e-4));
                        bias.setAtIndex(Data.F32, o, Data.value(rnd));
                    }
                    MemorySegment got = arena.allocate(4L * rows * out);
                    MemorySegment want = arena.allocate(4L * rows * out);
                    GemmPacked.u8s8(PackedWeights.int8Columns(w, in, out), q, params, seq, wScale, bias, got, rows,
                            false);
                    GemmU8S8.reference(q, params, w, wScale, bias, want, rows, seq, in, out);
                    for (long i = 0; i < (long) rows * out; i++) {
                        assertEquals(want.getAtIndex(Data.F32, i), got.getAtIndex(Data.F32, i),
                                "u8s8 " + rows + "x" + in + "x" + out + (extreme ? " extreme" : "") + " element " + i);
                    }
                }
            }
        }
    }

    /**
     * Quantizing while packing gives DynamicQuantU8's levels: the two references in sequence, bit for bit, with short
     * sentences (padding rows quantized with their sentence's range), an all-zero sentence (scale 1) and infinities.
     */
    @Test
    void u8s8QuantizingIsDynamicQuantThenTheReference() {
        SplittableRandom rnd = new SplittableRandom(21);
        int[][] shapes = {{3, 7, 45, NR + 3}, {2, 33, 384, 2 * NR}, {2, 9, 1536, NR}};
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : shapes) {
                int batch = s[0];
                int seq = s[1];
                int in = s[2];
                int out = s[3];
                int rows = batch * seq;
                MemorySegment x = arena.allocate(4L * rows * in);
                for (long i = 0; i < (long) rows * in; i++) {
                    // Multiples of 1/8 meet the rounding boundaries of some scales exactly; a few values are large.
                    float v = rnd.nextInt(8) == 0 ? (rnd.nextInt(401) - 200) / 8f : Data.value(rnd);
                    x.setAtIndex(Data.F32, i, i / in >= seq && i / in < 2L * seq ? 0f : v);
                }
                x.setAtIndex(Data.F32, (long) rows * in - 1, Float.POSITIVE_INFINITY);
                MemorySegment lengths = arena.allocate(4L * batch);
                for (int b = 0; b < batch; b++) {
                    lengths.setAtIndex(JAVA_INT, b, b == 0 ? seq : Math.max(1, seq - 2 - b));
                }
                MemorySegment w = arena.allocate((long) in * out);
                for (long i = 0; i < (long) in * out; i++) {
                    w.set(JAVA_BYTE, i, (byte) (rnd.nextInt(256) - 128));
                }
                MemorySegment wScale = arena.allocate(4L * out);
                MemorySegment bias = arena.allocate(4L * out);
                for (int o = 0; o < out; o++) {
                    wScale.setAtIndex(Data.F32, o, (float) (rnd.nextDouble() * 0.02 + 1e-4));
                    bias.setAtIndex(Data.F32, o, Data.value(rnd));
                }
                MemorySegment q = arena.allocate((long) rows * in);
                MemorySegment params = arena.allocate(8L * batch);
                MemorySegment want = arena.allocate(4L * rows * out);
                DynamicQuantU8.reference(x, lengths, q, params, batch, seq, in);
                GemmU8S8.reference(q, params, w, wScale, bias, want, rows, seq, in, out);
                MemorySegment params2 = arena.allocate(8L * batch);
                MemorySegment got = arena.allocate(4L * rows * out);
                DynamicQuantU8.paramsParallel(x, lengths, params2, batch, seq, in);
                GemmPacked.u8s8Quantizing(PackedWeights.int8Columns(w, in, out), x, params2, seq, wScale, bias, got,
                        rows, false);
                for (long i = 0; i < (long) rows * out; i++) {
                    assertEquals(want.getAtIndex(Data.F32, i), got.getAtIndex(Data.F32, i),
                            "u8s8 quantizing " + rows + "x" + in + "x" + out + " element " + i);
                }
            }
        }
    }

    @Test
    void rejectsMismatchedOperands() {
        try (Arena arena = Arena.ofShared()) {
            PackedWeights pw = PackedWeights.columns(new float[6], 2, 3);
            MemorySegment x = arena.allocate(4L * 4 * 2);
            MemorySegment y = arena.allocate(4L * 4 * 3);
            assertThrows(RuntimeException.class, () -> GemmPacked.gemm(pw, x, 0, y, 0, 5, null, false));
            assertThrows(IllegalArgumentException.class, () -> GemmPacked.u8s8(pw, x, x, 1, y, y, y, 1, false));
            assertEquals(0f, pw.get(2, 1));
        }
    }
}
