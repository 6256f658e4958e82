package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * ONNX {@code DynamicQuantizeLinear} as ONNX Runtime computes it: the range {@code [min(0, min x), max(0, max x)]}
 * mapped onto uint8, {@code scale = (max − min) / 255} (1 when the range is empty), zero point
 * {@code round_half_even(clamp(−min / scale, 0, 255))}, and {@code q = clamp(round_half_even(x / scale) + zp, 0, 255)}.
 *
 * <p>The graph applies it to the whole {@code [batch, seq, hidden]} tensor. Gale takes the range per sentence over its
 * real tokens instead: that equals the graph run on each sentence alone, and keeps a sentence's embedding independent
 * of what it is batched with and of the padding (in the graph, padded rows widen the range).
 */
final class DynamicQuantizer {
    private DynamicQuantizer() {
    }

    /** {@code {scale, zeroPoint}} of rows {@code [from, to)} of {@code x} ({@code cols} F32 each). */
    static float[] params(MemorySegment x, int from, int to, int cols) {
        float min = 0;
        float max = 0;
        for (long i = (long) from * cols; i < (long) to * cols; i++) {
            float v = x.getAtIndex(JAVA_FLOAT, i);
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        float scale = max == min ? 1f : (max - min) / 255f;
        float zp = (float) Math.rint(Math.max(0f, Math.min(255f, 0f - min / scale)));
        return new float[] {scale, zp};
    }

    /**
     * Quantizes rows {@code [from, to)} into {@code dst} as {@code q − zp} (the zero-point-corrected operand
     * {@code MatMulInteger} multiplies), {@code cols} ints per row starting at row {@code from}.
     */
    static void quantize(MemorySegment x, int from, int to, int cols, float scale, float zp, int[] dst) {
        for (long i = (long) from * cols; i < (long) to * cols; i++) {
            float q = (float) Math.rint(x.getAtIndex(JAVA_FLOAT, i) / scale) + zp;
            dst[(int) i] = (int) Math.max(0f, Math.min(255f, q)) - (int) zp;
        }
    }
}
