package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Byte-exact llama.cpp block formats: expected bytes are written out from the ggml-common.h spec, by hand. */
class QuantFormatTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static MemorySegment floats(Arena arena, float... v) {
        MemorySegment s = arena.allocate(4L * v.length, 64);
        for (int i = 0; i < v.length; i++) {
            s.set(F, 4L * i, v[i]);
        }
        return s;
    }

    static byte[] bytes(MemorySegment s, long off, int n) {
        byte[] b = new byte[n];
        MemorySegment.copy(s, ValueLayout.JAVA_BYTE, off, b, 0, n);
        return b;
    }

    @Test
    void q8_0BlockBytesMatchTheSpec() {
        try (Arena arena = Arena.ofConfined()) {
            // amax = 127 → d = 1 (fp16 0x3C00), id = 1, q = roundf(x): halves go away from zero.
            float[] x = new float[32];
            float[] values = {-127f, -2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 126.4f, 3.49f, -3.51f};
            System.arraycopy(values, 0, x, 0, values.length);
            for (int j = values.length; j < 32; j++) {
                x[j] = j - 20; // exact integers -10..11
            }
            byte[] want = new byte[34];
            want[0] = 0x00;
            want[1] = 0x3C;
            byte[] q = {-127, -3, -2, -1, 1, 2, 3, 126, 3, -4};
            System.arraycopy(q, 0, want, 2, q.length);
            for (int j = values.length; j < 32; j++) {
                want[2 + j] = (byte) (j - 20);
            }
            MemorySegment dst = arena.allocate(34);
            Q8_0.quantize(floats(arena, x), 0, dst, 0, 32);
            assertArrayEquals(want, bytes(dst, 0, 34));
            assertEquals(34, Q8_0.rowBytes(32));
        }
    }

    @Test
    void q4_0BlockBytesMatchTheSpec() {
        try (Arena arena = Arena.ofConfined()) {
            // Largest magnitude is -8 → max = -8, d = max / -8 = 1 (0x3C00); nib = min(15, (int)(x + 8.5)).
            float[] x = new float[32];
            x[0] = -8f;    // nib 0
            x[1] = 7f;     // 15
            x[2] = 7.9f;   // (int)16.4 = 16 → clamped 15
            x[3] = 0f;     // 8
            x[4] = 0.4f;   // 8
            x[5] = 0.6f;   // 9
            x[6] = -0.6f;  // 7
            x[7] = -7.6f;  // (int)0.9 = 0
            x[16] = 3f;    // 11, high nibble of byte 0
            x[17] = -3f;   // 5, high nibble of byte 1
            x[31] = -1f;   // 7, high nibble of byte 15
            int[] nib = new int[32];
            int[] expected = {0, 15, 15, 8, 8, 9, 7, 0};
            for (int j = 0; j < 32; j++) {
                nib[j] = 8; // zeros
            }
            System.arraycopy(expected, 0, nib, 0, expected.length);
            nib[16] = 11;
            nib[17] = 5;
            nib[31] = 7;
            byte[] want = new byte[18];
            want[0] = 0x00;
            want[1] = 0x3C;
            for (int j = 0; j < 16; j++) {
                want[2 + j] = (byte) (nib[j] | (nib[j + 16] << 4));
            }
            MemorySegment dst = arena.allocate(18);
            Q4_0.quantize(floats(arena, x), 0, dst, 0, 32);
            assertArrayEquals(want, bytes(dst, 0, 18));
            // Positive max: d = 8 / -8 = -1 (0xBC00); x = 8 → (int)(-8 + 8.5) = 0, x = -5 → (int)(13.5) = 13.
            float[] y = new float[32];
            y[0] = 8f;
            y[16] = -5f;
            Q4_0.quantize(floats(arena, y), 0, dst, 0, 32);
            assertEquals((short) 0xBC00, dst.get(H, 0));
            assertEquals((byte) (0 | (13 << 4)), dst.get(ValueLayout.JAVA_BYTE, 2));
            assertEquals((byte) (8 | (8 << 4)), dst.get(ValueLayout.JAVA_BYTE, 3));
            assertEquals(18, Q4_0.rowBytes(32));
        }
    }

    @Test
    void dequantizeReadsTheSpecLayout() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q4 = arena.allocate(18);
            q4.set(H, 0, Float.floatToFloat16(0.5f));
            q4.set(ValueLayout.JAVA_BYTE, 2, (byte) 0x3A); // element 0: nib 0xA → 0.5·2; element 16: nib 3 → 0.5·(−5)
            for (int j = 1; j < 16; j++) {
                q4.set(ValueLayout.JAVA_BYTE, 2 + j, (byte) 0x88);
            }
            MemorySegment out = arena.allocate(128);
            Q4_0.dequantize(q4, 0, out, 0, 32);
            assertEquals(1.0f, out.get(F, 0));
            assertEquals(-2.5f, out.get(F, 4L * 16));
            assertEquals(0f, out.get(F, 4));
            MemorySegment q8 = arena.allocate(34);
            q8.set(H, 0, Float.floatToFloat16(0.25f));
            q8.set(ValueLayout.JAVA_BYTE, 2, Byte.MIN_VALUE);
            q8.set(ValueLayout.JAVA_BYTE, 33, (byte) 127);
            Q8_0.dequantize(q8, 0, out, 0, 32);
            assertEquals(-32f, out.get(F, 0));
            assertEquals(31.75f, out.get(F, 4L * 31));
        }
    }

    /**
     * Q8_0: q = roundf(x/d) with the F32 d, so |x − d·q| ≤ d/2; the stored d is fp16, off by |d − d16|, and
     * |q| ≤ 127 turns that into at most 127·|d − d16| more. Q4_0: x/d lies in [−8, 8]; nib − 8 is x/d rounded to
     * nearest except in (7, 8], clamped to 7, so |x − d·(nib − 8)| ≤ |d|; the fp16 d adds 8·|d − d16| (|nib − 8| ≤ 8).
     * Both get a few F32 ulps of slack for x·id.
     */
    @Test
    void roundTripErrorWithinTheFormatBound() {
        Random rnd = new Random(11);
        int n = 32 * 200;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * n);
            for (int i = 0; i < n; i++) {
                double mag = Math.pow(10, rnd.nextInt(7) - 3);
                x.set(F, 4L * i, (float) (rnd.nextGaussian() * mag));
            }
            MemorySegment q8 = arena.allocate(Q8_0.rowBytes(n));
            MemorySegment q4 = arena.allocate(Q4_0.rowBytes(n));
            MemorySegment out = arena.allocate(4L * n);
            Q8_0.quantize(x, 0, q8, 0, n);
            Q8_0.dequantize(q8, 0, out, 0, n);
            for (int b = 0; b < n / 32; b++) {
                double amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(x.get(F, 4L * (b * 32 + j))));
                }
                float d = (float) amax / 127f;
                float d16 = Float.float16ToFloat(Float.floatToFloat16(d));
                double bound = d / 2.0 + 127 * Math.abs(d - d16) + 4 * Math.ulp((float) amax);
                for (int j = 0; j < 32; j++) {
                    long o = 4L * (b * 32 + j);
                    double err = Math.abs(x.get(F, o) - out.get(F, o));
                    assertTrue(err <= bound, "q8 block " + b + " err " + err + " > " + bound);
                }
            }
            Q4_0.quantize(x, 0, q4, 0, n);
            Q4_0.dequantize(q4, 0, out, 0, n);
            for (int b = 0; b < n / 32; b++) {
                double amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(x.get(F, 4L * (b * 32 + j))));
                }
                float d = (float) amax / 8f;
                float d16 = Float.float16ToFloat(Float.floatToFloat16(d));
                double bound = d + 8 * Math.abs(d - d16) + 16 * Math.ulp((float) amax);
                for (int j = 0; j < 32; j++) {
                    long o = 4L * (b * 32 + j);
                    double err = Math.abs(x.get(F, o) - out.get(F, o));
                    assertTrue(err <= bound, "q4 block " + b + " err " + err + " > " + bound);
                }
            }
        }
    }

    @Test
    void rowLengthsThatAreNotBlockMultiplesAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(4096);
            assertThrows(ShapeMismatchException.class, () -> Q8_0.quantize(s, 0, s, 0, 33));
            assertThrows(ShapeMismatchException.class, () -> Q4_0.quantize(s, 0, s, 0, 48));
            assertThrows(ShapeMismatchException.class, () -> Q8_0.rowBytes(0));
            assertThrows(ShapeMismatchException.class, () -> Q4_0.dequantize(s, 0, s, 0, 31));
            assertThrows(ShapeMismatchException.class, () -> Q8Activations.scratchBytes(1, 100));
            assertThrows(ShapeMismatchException.class, () -> new Q8Activations(s, 0, 1, 96 + 1));
            assertThrows(ShapeMismatchException.class, () -> new Q8Activations(s, 0, 100, 64));
            MemorySegment y = arena.allocate(64);
            Q8Activations a = new Q8Activations(arena.allocate(Q8Activations.scratchBytes(1, 64)), 0, 1, 64);
            assertThrows(ShapeMismatchException.class,
                    () -> Q8_0Matmul.INSTANCE.matmul(s, 0, 1, 32, a, y, 0, 0, 1)); // activations have 64 columns
            assertThrows(ShapeMismatchException.class,
                    () -> Q4_0Matmul.INSTANCE.matmulF32(s, 0, 1, 40, s, 0, 1, y, 0, 0, 1));
            assertThrows(ShapeMismatchException.class,
                    () -> Q4_0Matmul.INSTANCE.matmulF32(s, 0, 1000, 64, s, 0, 1, y, 0, 0, 1000)); // weights too short
        }
    }
}
