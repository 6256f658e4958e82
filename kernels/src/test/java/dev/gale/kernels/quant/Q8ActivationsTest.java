package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("vector")
class Q8ActivationsTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static Q8Activations both(Arena arena, MemorySegment x, int tokens, int in, boolean vector) {
        Q8Activations a = new Q8Activations(arena.allocate(Q8Activations.scratchBytes(tokens, in), 64), 0, tokens,
                in);
        if (vector) {
            a.quantize(x, 0, tokens);
        } else {
            a.quantizeReference(x, 0, tokens);
        }
        return a;
    }

    @Test
    void roundsToNearestEvenAndNeverProducesMinusOneTwentyEight() {
        try (Arena arena = Arena.ofConfined()) {
            float[] v = new float[32];
            float[] head = {-127f, -2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, -1.7f, 1.7f, -126.5f, 127f};
            int[] want = {-127, -2, -2, 0, 0, 2, 2, -2, 2, -126, 127};
            System.arraycopy(head, 0, v, 0, head.length);
            MemorySegment x = QuantFormatTest.floats(arena, v);
            for (boolean vector : new boolean[] {true, false}) {
                Q8Activations a = both(arena, x, 1, 32, vector);
                assertEquals(1f, a.scale(0, 0));
                int sum = 0;
                for (int j = 0; j < head.length; j++) {
                    assertEquals(want[j], a.q(0, j), "element " + j + " vector=" + vector);
                    sum += want[j];
                }
                assertEquals(sum, a.sum(0, 0));
            }
        }
    }

    @Test
    void vectorMatchesReferenceByteForByte() {
        Random rnd = new Random(5);
        int tokens = 3;
        int in = 4128;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * tokens * in);
            for (int i = 0; i < tokens * in; i++) {
                float v = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(5) - 2));
                if (i % 97 == 0) {
                    v = (rnd.nextInt(41) - 20) * 0.5f; // exact halves
                }
                x.set(F, 4L * i, v);
            }
            Q8Activations v = both(arena, x, tokens, in, true);
            Q8Activations r = both(arena, x, tokens, in, false);
            long n = Q8Activations.scratchBytes(tokens, in);
            assertArrayEquals(QuantFormatTest.bytes(r.segment(), 0, (int) n),
                    QuantFormatTest.bytes(v.segment(), 0, (int) n));
            // The rounding error is at most d/2 per element.
            for (int t = 0; t < tokens; t++) {
                for (int k = 0; k < in; k++) {
                    float d = v.scale(t, k / 32);
                    double err = Math.abs(x.get(F, 4L * ((long) t * in + k)) - (double) d * v.q(t, k));
                    assertTrue(err <= d * 0.5 * (1 + 1e-5), "t " + t + " k " + k + " err " + err + " d " + d);
                }
            }
        }
    }

    @Test
    void specialBlocks() {
        try (Arena arena = Arena.ofConfined()) {
            int in = 160;
            float[] v = new float[in];
            // block 0: zeros; block 1: NaN; block 2: +Inf; block 3: subnormal magnitudes; block 4: normal
            v[32 + 5] = Float.NaN;
            v[64 + 7] = Float.POSITIVE_INFINITY;
            v[64 + 8] = 1f;
            v[96 + 1] = Float.MIN_VALUE * 3;
            v[96 + 2] = -Float.MIN_NORMAL;
            v[128] = -3f;
            v[129] = 1f;
            MemorySegment x = QuantFormatTest.floats(arena, v);
            for (boolean vector : new boolean[] {true, false}) {
                Q8Activations a = both(arena, x, 1, in, vector);
                assertEquals(0f, a.scale(0, 0));
                assertTrue(Float.isNaN(a.scale(0, 1)));
                assertTrue(Float.isNaN(a.scale(0, 2)));
                assertEquals(0f, a.scale(0, 3));
                assertEquals(3f / 127f, a.scale(0, 4));
                for (int b = 0; b < 4; b++) {
                    assertEquals(0, a.sum(0, b));
                    for (int j = 0; j < 32; j++) {
                        assertEquals(0, a.q(0, b * 32 + j));
                    }
                }
                assertEquals(-127, a.q(0, 128));
                assertEquals(42, a.q(0, 129)); // rint(1 · 127/3)
                assertEquals(-85, a.sum(0, 4));
            }
        }
    }
}
