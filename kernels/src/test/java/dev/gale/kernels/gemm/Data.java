package dev.gale.kernels.gemm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Test data for the gemm family: matrices in native memory at odd byte offsets, and the checks against truth. */
final class Data {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Byte offset of every operand inside its segment, so the kernels are exercised on slices. */
    static final long OFF = 12;

    private Data() {
    }

    /** A segment with {@code count} elements of {@code elemBytes} after {@link #OFF} bytes of padding. */
    static MemorySegment alloc(Arena arena, long count, int elemBytes) {
        return arena.allocate(OFF + count * elemBytes + 8, 16);
    }

    /** Uniform values in (-1, 1), a few of them scaled up by 2^10 and a few down by 2^-10 for varied magnitudes. */
    static float value(SplittableRandom rnd) {
        float v = (float) (rnd.nextDouble() * 2 - 1);
        int r = rnd.nextInt(16);
        return r == 0 ? v * 1024 : r == 1 ? v / 1024 : v;
    }

    static MemorySegment randomF32(Arena arena, long count, SplittableRandom rnd) {
        MemorySegment s = alloc(arena, count, 4);
        for (long i = 0; i < count; i++) {
            s.set(F32, OFF + 4 * i, value(rnd));
        }
        return s;
    }

    /** Random F16 weights (finite, some subnormal). */
    static MemorySegment randomF16(Arena arena, long count, SplittableRandom rnd) {
        MemorySegment s = alloc(arena, count, 2);
        for (long i = 0; i < count; i++) {
            short h = Float.floatToFloat16(value(rnd));
            if (rnd.nextInt(32) == 0) {
                h = (short) (rnd.nextInt(0x400) | (rnd.nextBoolean() ? 0x8000 : 0));
            }
            s.set(F16, OFF + 2 * i, h);
        }
        return s;
    }

    static float weight(MemorySegment w, boolean half, long i) {
        return half ? Float.float16ToFloat(w.get(F16, OFF + 2 * i)) : w.get(F32, OFF + 4 * i);
    }

    static float get(MemorySegment s, long i) {
        return s.get(F32, OFF + 4 * i);
    }

    static void set(MemorySegment s, long i, float v) {
        s.set(F32, OFF + 4 * i, v);
    }

    /**
     * Checks {@code Y[t][o]} against the double-precision truth within {@link Numerics#dotBound} of
     * {@code Σ|w·x|}.
     */
    static void checkAgainstTruth(String what, MemorySegment w, boolean half, MemorySegment x, MemorySegment y,
            int tokens, int out, int in) {
        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < out; o++) {
                double s = 0;
                double abs = 0;
                for (int i = 0; i < in; i++) {
                    double p = (double) weight(w, half, (long) o * in + i) * get(x, (long) t * in + i);
                    s += p;
                    abs += Math.abs(p);
                }
                float got = get(y, (long) t * out + o);
                double bound = Numerics.dotBound(abs, in);
                if (!(Math.abs(got - s) <= bound)) {
                    fail(what + ": Y[" + t + "][" + o + "] = " + got + ", truth " + s + ", |error| "
                            + Math.abs(got - s) + " > bound " + bound + " (Σ|w·x| = " + abs + ", in = " + in + ")");
                }
            }
        }
    }

    /**
     * Checks {@code got} against the reference's {@code want}: NaN exactly where the reference has NaN, the same
     * infinities, and finite values within {@link Numerics#dotBound}.
     */
    static void checkAgainstReference(String what, MemorySegment w, boolean half, MemorySegment x,
            MemorySegment got, MemorySegment want, int tokens, int out, int in) {
        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < out; o++) {
                float g = get(got, (long) t * out + o);
                float r = get(want, (long) t * out + o);
                String at = what + ": Y[" + t + "][" + o + "]";
                assertEquals(Float.isNaN(r), Float.isNaN(g), at + " NaN-ness: got " + g + ", reference " + r);
                if (Float.isInfinite(r) || Float.isInfinite(g)) {
                    assertEquals(r, g, at + " infinity");
                } else if (!Float.isNaN(r)) {
                    double abs = 0;
                    for (int i = 0; i < in; i++) {
                        abs += Math.abs((double) weight(w, half, (long) o * in + i) * get(x, (long) t * in + i));
                    }
                    assertTrue(Math.abs(g - r) <= Numerics.dotBound(abs, in) + Math.ulp(r),
                            at + " = " + g + ", reference " + r);
                }
            }
        }
    }

    /** Bitwise equality of two F32 result ranges. */
    static void assertSameBits(String what, MemorySegment a, MemorySegment b, long count) {
        for (long i = 0; i < count; i++) {
            assertEquals(Float.floatToRawIntBits(get(a, i)), Float.floatToRawIntBits(get(b, i)),
                    what + ": element " + i + ": " + get(a, i) + " vs " + get(b, i));
        }
    }
}
