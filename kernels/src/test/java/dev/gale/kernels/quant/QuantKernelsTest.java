package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The device kernels' fp16 scale decode, on the JVM: exact for every half bit pattern. */
class QuantKernelsTest {
    @Test
    void halfToFloatIsExactForEveryHalf() {
        for (int bits = 0; bits < 1 << 16; bits++) {
            float want = Float.float16ToFloat((short) bits);
            float got = QuantKernels.halfToFloat(bits);
            int b = bits;
            if (Float.isNaN(want)) {
                assertTrue(Float.isNaN(got), () -> "NaN expected for half bits " + Integer.toHexString(b));
            } else {
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                        () -> "half bits " + Integer.toHexString(b) + ": want " + want + ", got " + got);
            }
        }
    }
}
