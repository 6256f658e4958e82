package dev.gale.core.buffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("vector")
class FloatConversionsTest {

    @Test
    void everyF16BitPatternConvertsExactly() {
        int n = 65536 + 7; // a tail past a whole number of vectors
        try (Buffer h = Buffers.allocate("h", DType.F16, n); Buffer f = Buffers.allocate("f", DType.F32, n)) {
            for (int i = 0; i < n; i++) {
                h.segment().setAtIndex(Buffer.I16, i, (short) i);
            }
            FloatConversions.toF32(h, f);
            for (int i = 0; i < n; i++) {
                float want = Float.float16ToFloat((short) i);
                float got = f.getFloat(i);
                if (Float.isNaN(want)) {
                    assertTrue(Float.isNaN(got), "pattern " + Integer.toHexString(i));
                } else {
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                            "pattern " + Integer.toHexString(i & 0xffff));
                }
            }
        }
    }

    /**
     * The array form relies on C2 turning {@link Float#float16ToFloat} into the hardware conversion: checked after
     * enough calls for the loop to be compiled, against a decoding written out by hand (sign, exponent, mantissa).
     */
    @Test
    void everyF16BitPatternConvertsExactlyIntoArraysOnceCompiled() {
        int n = 65536 + 7;
        float[] out = new float[n + 3];
        try (Buffer h = Buffers.allocate("h", DType.F16, n)) {
            for (int i = 0; i < n; i++) {
                h.segment().setAtIndex(Buffer.I16, i, (short) i);
            }
            for (int round = 0; round < 300; round++) {
                FloatConversions.f16ToF32(h.segment(), 0, out, 3, n);
            }
            for (int i = 0; i < n; i++) {
                int bits = i & 0xffff;
                int exp = bits >> 10 & 0x1f;
                int mant = bits & 0x3ff;
                float mag = exp == 0 ? Math.scalb((float) mant, -24)
                        : exp == 31 ? (mant == 0 ? Float.POSITIVE_INFINITY : Float.NaN)
                        : Math.scalb((float) (mant | 0x400), exp - 25);
                float want = (bits & 0x8000) != 0 ? -mag : mag;
                float got = out[3 + i];
                if (Float.isNaN(want)) {
                    assertTrue(Float.isNaN(got), "pattern " + Integer.toHexString(bits));
                } else {
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                            "pattern " + Integer.toHexString(bits));
                }
            }
        }
    }

    @Test
    void f32ToF16RoundsToNearestEvenLikeTheJdk() {
        float[] special = {0f, -0f, 1f, -1f, 65504f, 65520f, 65519.99f, 1e9f, -1e9f, Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY, Float.NaN, 6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f,
            1e-10f, Float.MIN_VALUE, 1.00048828125f, 1.000732421875f, 3.0517578e-5f};
        Random r = new Random(1);
        int n = 100_003;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = i < special.length ? special[i]
                    : switch (i % 3) {
                        case 0 -> (float) (r.nextGaussian() * Math.pow(10, r.nextInt(12) - 8));
                        case 1 -> Float.intBitsToFloat(r.nextInt());
                        default -> (float) r.nextGaussian();
                    };
        }
        try (Buffer f = Buffers.f32("f", v); Buffer h = Buffers.allocate("h", DType.F16, n)) {
            FloatConversions.fromF32(f, h);
            for (int i = 0; i < n; i++) {
                short want = Float.floatToFloat16(v[i]);
                short got = h.segment().getAtIndex(Buffer.I16, i);
                if (Float.isNaN(v[i])) {
                    assertTrue(Float.isNaN(Float.float16ToFloat(got)), "NaN at " + i);
                } else {
                    assertEquals(want, got, "value " + v[i] + " at " + i);
                }
            }
        }
    }

    @Test
    void bf16RoundTripsAndRoundsToNearestEven() {
        Random r = new Random(2);
        int n = 10_007;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = i == 0 ? Float.NaN : i == 1 ? Float.NEGATIVE_INFINITY : Float.intBitsToFloat(r.nextInt());
        }
        try (Buffer f = Buffers.f32("f", v); Buffer b = Buffers.allocate("b", DType.BF16, n);
             Buffer back = Buffers.allocate("back", DType.F32, n)) {
            FloatConversions.fromF32(f, b);
            FloatConversions.toF32(b, back);
            for (int i = 0; i < n; i++) {
                float got = back.getFloat(i);
                if (Float.isNaN(v[i])) {
                    assertTrue(Float.isNaN(got));
                    continue;
                }
                // Exact round to nearest even, computed in double from the two neighbouring BF16 values.
                int bits = Float.floatToRawIntBits(v[i]);
                float down = Float.intBitsToFloat(bits & 0xffff0000);
                float up = Float.intBitsToFloat((bits & 0xffff0000) + 0x10000);
                int rest = bits & 0xffff;
                float want = rest < 0x8000 ? down : rest > 0x8000 ? up : ((bits >>> 16) & 1) == 0 ? down : up;
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), "value " + v[i]);
            }
        }
    }
}
