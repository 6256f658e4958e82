package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.gemm.GemmBlockScaled;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The paired W4A4 GEMM kernel (two columns' integer products per F32 lane, {@code GemmBlockScaled} with pairable
 * blocks): its group sums are exact, so its result must be bit for bit the one-product kernel's, at every group
 * size, with partial paired panels, leftover tokens, a second packed weight block, row ranges that do not start on a
 * panel, and A8 blocks mixed in (run unpaired). At the extreme of the pairing bound (every product ±56, spans summing
 * to ±1792) with unit scales the result is the exact integer dot, so a wrong split (off by a multiple of 4096) fails.
 */
@Tag("vector")
class W4AxPairedGemmTest {
    private static final ValueLayout.OfFloat F = QuantVectors.F32;

    @Test
    void thePairedKernelRunsOnAvx2AndAvx512() {
        int bits = QuantVectors.F.vectorBitSize();
        if ((bits == 256 || bits == 512) && System.getProperty("gale.gemm.nc") == null
                && Boolean.parseBoolean(System.getProperty("gale.gemm.paired", "true"))) {
            assertTrue(GemmBlockScaled.pairs(), bits + "-bit vectors should run the paired kernel");
        }
    }

    @Test
    void pairedEqualsUnpairedBitForBit() {
        SplittableRandom r = new SplittableRandom(7);
        for (int[] shape : new int[][] {{37, 75, 512}, {9, 300, 384}, {4, 32, 128}}) {
            int tokens = shape[0];
            int rows = shape[1];
            int in = shape[2];
            int blocks = in / W4Weights.BLOCK;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment wf = random(arena, r, (long) rows * in);
                MemorySegment x = random(arena, r, (long) tokens * in);
                boolean[] a8First = new boolean[blocks];
                a8First[0] = true; // FMPQ's layout: the outlier block first
                for (boolean[] map : new boolean[][] {new boolean[blocks], a8First}) {
                    ActivationQuant a = ActivationQuant.allocate(tokens, in, map, arena);
                    a.quantize(x, 0, tokens);
                    for (int group : new int[] {32, 64, 128}) {
                        W4Weights w = W4Weights.quantizeFullRange(wf, 0, rows, in, group, arena);
                        String where = tokens + "x" + rows + "x" + in + " g" + group + " A8 " + map[0];
                        MemorySegment one = arena.allocate(4L * tokens * rows);
                        MemorySegment two = arena.allocate(4L * tokens * rows);
                        GemmBlockScaled.gemm(W4Panels.CODEC, w, a.wide(), 0, a.scales(), 0, W4Weights.BLOCK, null,
                                one, 0, tokens, rows, in);
                        W4AxMatmul.matmulParallel(w, a, two, 0);
                        assertBits(one, two, tokens, rows, 0, rows, where + " pool");
                        MemorySegment part = arena.allocate(4L * tokens * rows);
                        int from = Math.min(5, rows - 1);
                        W4AxMatmul.matmul(w, a, part, 0, from, rows);
                        assertBits(one, part, tokens, rows, from, rows, where + " rows " + from + "..");
                    }
                }
            }
        }
    }

    @Test
    void extremeSpansAreExact() {
        int tokens = 6;
        int rows = 40;
        int in = 256;
        try (Arena arena = Arena.ofShared()) {
            // weight codes: all −8, all 7, or alternating −8/7 per nibble; unit scales
            MemorySegment codes = arena.allocate((long) rows * in / 2, 64);
            for (int o = 0; o < rows; o++) {
                byte b = switch (o % 3) {
                    case 0 -> (byte) 0x88;
                    case 1 -> (byte) 0x77;
                    default -> (byte) 0x78;
                };
                codes.asSlice((long) o * in / 2, in / 2).fill(b);
            }
            // activations ±7 (scale exactly 1, codes ±7): all −7, all +7, and a sign flip per span
            MemorySegment x = arena.allocate(4L * tokens * in, 64);
            for (int t = 0; t < tokens; t++) {
                for (int c = 0; c < in; c++) {
                    float v = switch (t % 3) {
                        case 0 -> -7f;
                        case 1 -> 7f;
                        default -> (c / 32) % 2 == 0 ? 7f : -7f;
                    };
                    x.setAtIndex(F, (long) t * in + c, v);
                }
            }
            ActivationQuant a = ActivationQuant.allocate(tokens, in, ActivationQuant.uniform(in, false), arena);
            a.quantize(x, 0, tokens);
            for (int group : new int[] {32, 64, 128}) {
                MemorySegment scales = arena.allocate(4L * rows * (in / group), 64);
                for (long i = 0; i < (long) rows * (in / group); i++) {
                    scales.setAtIndex(F, i, 1f);
                }
                W4Weights w = W4Weights.of(rows, in, group, codes, scales);
                MemorySegment y = arena.allocate(4L * tokens * rows);
                W4AxMatmul.matmulParallel(w, a, y, 0);
                for (int t = 0; t < tokens; t++) {
                    for (int o = 0; o < rows; o++) {
                        long dot = 0;
                        for (int c = 0; c < in; c++) {
                            dot += (long) a.code(t, c) * w.code(o, c);
                        }
                        assertEquals((float) dot, y.get(F, 4L * ((long) t * rows + o)), "g" + group + " t " + t
                                + " o " + o);
                    }
                }
            }
        }
    }

    /**
     * The whole paired range through {@code GemmBlockScaled} directly: activation codes −8 (a {@link ChannelBlocks}
     * layout's A4 extreme) against weight codes −8 and 7 make spans' dots 2048 and −1792, the ends of the range the
     * span offset centres; unit scales, so the result is the exact integer dot.
     */
    @Test
    void fullRangeCodesAreExact() {
        int tokens = 9;
        int rows = 40;
        int in = 384;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment codes = arena.allocate((long) rows * in / 2, 64);
            for (int o = 0; o < rows; o++) {
                byte b = switch (o % 3) {
                    case 0 -> (byte) 0x88;
                    case 1 -> (byte) 0x77;
                    default -> (byte) 0x78;
                };
                codes.asSlice((long) o * in / 2, in / 2).fill(b);
            }
            MemorySegment x = arena.allocate(4L * tokens * in, 64);
            int[] xCodes = new int[tokens * in];
            for (int t = 0; t < tokens; t++) {
                for (int c = 0; c < in; c++) {
                    int q = switch (t % 3) {
                        case 0 -> -8;
                        case 1 -> 7;
                        default -> (c / 32) % 2 == 0 ? -8 : 7;
                    };
                    xCodes[t * in + c] = q;
                    x.setAtIndex(F, (long) t * in + c, q);
                }
            }
            MemorySegment sx = arena.allocate(4L * tokens * (in / W4Weights.BLOCK), 64);
            for (long i = 0; i < (long) tokens * (in / W4Weights.BLOCK); i++) {
                sx.setAtIndex(F, i, 1f);
            }
            boolean[] all = new boolean[in / W4Weights.BLOCK];
            java.util.Arrays.fill(all, true);
            for (int group : new int[] {32, 64, 128}) {
                MemorySegment scales = arena.allocate(4L * rows * (in / group), 64);
                for (long i = 0; i < (long) rows * (in / group); i++) {
                    scales.setAtIndex(F, i, 1f);
                }
                W4Weights w = W4Weights.of(rows, in, group, codes, scales);
                MemorySegment y = arena.allocate(4L * tokens * rows);
                GemmBlockScaled.gemm(W4Panels.CODEC, w, x, 0, sx, 0, W4Weights.BLOCK, all, y, 0, tokens, rows, in);
                for (int t = 0; t < tokens; t++) {
                    for (int o = 0; o < rows; o++) {
                        long dot = 0;
                        for (int c = 0; c < in; c++) {
                            dot += (long) xCodes[t * in + c] * w.code(o, c);
                        }
                        assertEquals((float) dot, y.get(F, 4L * ((long) t * rows + o)), "g" + group + " t " + t
                                + " o " + o);
                    }
                }
            }
        }
    }

    private static void assertBits(MemorySegment want, MemorySegment got, int tokens, int rows, int from, int to,
            String where) {
        for (int t = 0; t < tokens; t++) {
            for (int o = from; o < to; o++) {
                long at = 4L * ((long) t * rows + o);
                assertEquals(Float.floatToRawIntBits(want.get(F, at)), Float.floatToRawIntBits(got.get(F, at)),
                        where + " t " + t + " o " + o);
            }
        }
    }

    private static MemorySegment random(Arena arena, SplittableRandom r, long n) {
        MemorySegment s = arena.allocate(4L * n, 64);
        for (long i = 0; i < n; i++) {
            s.set(F, 4L * i, (float) r.nextDouble(-1, 1));
        }
        return s;
    }
}
