package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * The split layout holds the same weights as ggml's blocks: decoding it as {@link SplitGemvKernels} does (signed
 * bytes, arithmetic shifts, F32 scales) gives exactly {@link Q4_0#dequantize} / {@link Q8_0#dequantize}, for every
 * byte value and for special scales.
 */
class SplitBlocksTest {
    private static final int ROWS = 3;
    /** 24 blocks: enough quant bytes to hold every byte value in either format. */
    private static final int IN = 256;

    @Test
    void q4DecodesToTheBlockLayoutsValuesExactly() {
        check(true);
    }

    @Test
    void q8DecodesToTheBlockLayoutsValuesExactly() {
        check(false);
    }

    private static void check(boolean q4) {
        int blockBytes = q4 ? Q4_0.BLOCK_BYTES : Q8_0.BLOCK_BYTES;
        int quantBytes = blockBytes - 2;
        int blocks = ROWS * IN / 32;
        short[] scales = {0x0001, 0x0203, (short) 0xB555, 0x3C00, 0x7BFF, (short) 0x8000, 0x0000, 0x2E66, 0x4500};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate((long) blocks * blockBytes);
            for (int b = 0; b < blocks; b++) {
                w.set(QuantVectors.I16, (long) b * blockBytes, scales[b % scales.length]);
                for (int j = 0; j < quantBytes; j++) {
                    w.set(ValueLayout.JAVA_BYTE, (long) b * blockBytes + 2 + j, (byte) (b * quantBytes + j));
                }
            }
            MemorySegment want = arena.allocate(4L * ROWS * IN);
            if (q4) {
                Q4_0.dequantize(w, 0, want, 0, ROWS * IN);
            } else {
                Q8_0.dequantize(w, 0, want, 0, ROWS * IN);
            }
            try (SplitBlocks s = q4 ? SplitBlocks.q4_0(w, 0, ROWS, IN) : SplitBlocks.q8_0(w, 0, ROWS, IN)) {
                assertEquals((long) blocks * (quantBytes + 4), s.byteSize());
                MemorySegment q = s.quants().segment();
                MemorySegment d = s.scales().segment();
                for (int b = 0; b < blocks; b++) {
                    float scale = d.getAtIndex(ValueLayout.JAVA_FLOAT, b);
                    for (int e = 0; e < 32; e++) {
                        int value;
                        if (q4) {
                            int v = q.get(ValueLayout.JAVA_BYTE, (long) b * quantBytes + (e & 15));
                            value = e < 16 ? (v << 28) >> 28 : v >> 4;
                        } else {
                            value = q.get(ValueLayout.JAVA_BYTE, (long) b * quantBytes + e);
                        }
                        float got = scale * value;
                        float exp = want.getAtIndex(ValueLayout.JAVA_FLOAT, (long) b * 32 + e);
                        assertEquals(Float.floatToIntBits(exp), Float.floatToIntBits(got), "block " + b + " elem " + e);
                    }
                }
            }
        }
        assertThrows(ShapeMismatchException.class, () -> SplitBlocks.q4_0(MemorySegment.ofArray(new byte[18]), 0, 1,
                48));
    }
}
