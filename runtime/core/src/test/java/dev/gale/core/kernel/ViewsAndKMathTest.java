package dev.gale.core.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import org.junit.jupiter.api.Test;

class ViewsAndKMathTest {
    @Test
    void viewsReadAndWriteTheBufferLayout() {
        try (Buffer h = Buffers.allocate("h", DType.F16, 4); Buffer b = Buffers.allocate("b", DType.I8, 4);
             Buffer u = Buffers.allocate("u", DType.U8, 4); Buffer q = Buffers.allocate("q", DType.Q4, 8);
             Buffer i = Buffers.allocate("i", DType.I32, 4); Buffer f = Buffers.allocate("f", DType.F32, 4)) {
            F16 hv = F16.of(h);
            hv.set(1, 1.0f / 3);
            assertEquals(Float.float16ToFloat(Float.floatToFloat16(1.0f / 3)), hv.get(1));
            assertEquals(hv.get(1), h.getFloat(1));
            I8 bv = I8.of(b);
            bv.set(2, 200);
            assertEquals(-56, bv.get(2));
            U8 uv = U8.of(u);
            uv.set(3, -1);
            assertEquals(255, uv.get(3));
            Q4 qv = Q4.of(q);
            qv.set(1, 0xA3);
            assertEquals(3, q.getInt(2));
            assertEquals(10, q.getInt(3));
            assertEquals(0xA3, qv.get(1));
            assertEquals(4, qv.length());
            I32.of(i).set(3, -5);
            assertEquals(-5, i.getInt(3));
            F32.of(f).set(0, 2.5f);
            assertEquals(2.5f, f.getFloat(0));
            assertEquals(4, F32.of(f).length());
            assertThrows(GaleException.class, () -> F32.of(i));
        }
    }

    @Test
    void kmathMatchesItsContract() {
        double[][] erf = {{0.0, 0.0}, {0.1, 0.1124629160}, {0.3, 0.3286267595}, {0.5, 0.5204998778},
            {1.0, 0.8427007929}, {2.0, 0.9953222650}, {3.5, 0.9999992569}, {-0.7, -0.6778011938}};
        for (double[] e : erf) {
            assertEquals(e[1], KMath.erf((float) e[0]), 2e-7, "erf(" + e[0] + ")");
        }
        assertTrue(Float.isNaN(KMath.erf(Float.NaN)));
        assertEquals(1.0f, KMath.erf(Float.POSITIVE_INFINITY));
        assertEquals(2.0f, KMath.max(Float.NaN, 2.0f));
        assertEquals(2.0f, KMath.min(2.0f, Float.NaN));
        assertEquals(0.5f, KMath.rsqrt(4.0f));
        assertEquals(Integer.MIN_VALUE, KMath.abs(Integer.MIN_VALUE));
        assertEquals(Math.fma(1.1f, 2.2f, 3.3f), KMath.fma(1.1f, 2.2f, 3.3f));
    }
}
