package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The W4Ax prefill GEMM (through {@link dev.gale.kernels.gemm.GemmBlockScaled}) at shapes that take each split: more
 * tokens than rows (split over token groups, leftover tokens), more rows than one packed weight block (split over
 * panels, a partial last panel); every group size, mixed A4/A8 blocks. Against the integer reference within the dot
 * bound, and the pool's result bit for bit equal to one thread's.
 */
@Tag("vector")
class W4AxGemmTest {
    private static final ValueLayout.OfFloat F = QuantVectors.F32;

    @Test
    void bothSplitsMatchTheReference() {
        SplittableRandom r = new SplittableRandom(21);
        for (int[] shape : new int[][] {{37, 11, 256}, {13, 300, 384}}) {
            int tokens = shape[0];
            int rows = shape[1];
            int in = shape[2];
            try (Arena arena = Arena.ofShared()) {
                MemorySegment wf = random(arena, r, (long) rows * in);
                MemorySegment x = random(arena, r, (long) tokens * in);
                boolean[] map = new boolean[in / W4Weights.BLOCK];
                map[map.length - 1] = true;
                ActivationQuant a = ActivationQuant.allocate(tokens, in, map, arena);
                a.quantize(x, 0, tokens);
                for (int group : new int[] {32, 64, 128}) {
                    W4Weights w = W4Weights.quantize(wf, 0, rows, in, group, arena);
                    MemorySegment yp = arena.allocate(4L * tokens * rows);
                    MemorySegment y1 = arena.allocate(4L * tokens * rows);
                    W4AxMatmul.matmulParallel(w, a, yp, 0);
                    W4AxMatmul.matmul(w, a, y1, 0, 0, rows);
                    for (int t = 0; t < tokens; t++) {
                        for (int o = 0; o < rows; o++) {
                            long at = 4L * ((long) t * rows + o);
                            double want = W4AxMatmul.reference(w, a, t, o);
                            double bound = Numerics.dotBound(W4AxMatmul.sumAbs(w, a, t, o), in);
                            float got = yp.get(F, at);
                            String where = tokens + "x" + rows + "x" + in + " g" + group + " t " + t + " o " + o;
                            assertTrue(Math.abs(got - want) <= bound, where + ": " + got + " vs " + want + " bound "
                                    + bound);
                            assertEquals(Float.floatToRawIntBits(got), Float.floatToRawIntBits(y1.get(F, at)), where);
                        }
                    }
                }
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
