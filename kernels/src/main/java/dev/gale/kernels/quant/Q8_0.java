package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I16;
import static dev.gale.kernels.quant.QuantVectors.QK;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * llama.cpp's {@code block_q8_0}, byte for byte: {@code {fp16 d; int8 qs[32]}} (34 bytes, little endian), value
 * {@code d·q}. A row of {@code in} elements is {@code in/32} consecutive blocks; a matrix is rows back to back. This is
 * the import/export format and the input of the scalar references; decode repacks it once with
 * {@link Q8_0Packed#pack}, and {@link Q8_0Matmul} reads it directly.
 */
public final class Q8_0 {
    /** Elements per block. */
    public static final int BLOCK = QK;
    /** Bytes per block: the fp16 scale then 32 int8 values. */
    public static final int BLOCK_BYTES = 2 + QK;

    private Q8_0() {
    }

    /** Bytes of one row of {@code in} elements ({@code in} a multiple of 32). */
    public static long rowBytes(int in) {
        QuantVectors.requireBlocks(in, "Q8_0 row");
        return (long) (in / QK) * BLOCK_BYTES;
    }

    /**
     * Quantizes {@code n} F32 values (a multiple of 32) as ggml's {@code quantize_row_q8_0_ref} does: per block
     * {@code d = amax/127}, {@code id = d != 0 ? 1/d : 0}, {@code q = roundf(x·id)} (nearest, halves away from zero),
     * d stored as fp16 (rounded to nearest even).
     */
    public static void quantize(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, int n) {
        QuantVectors.requireBlocks(n, "Q8_0 quantize");
        QuantVectors.requireBytes(src, srcOff, 4L * n, "Q8_0 quantize source");
        QuantVectors.requireBytes(dst, dstOff, rowBytes(n), "Q8_0 quantize destination");
        for (int b = 0; b < n / QK; b++) {
            long s = srcOff + 4L * b * QK;
            long o = dstOff + (long) b * BLOCK_BYTES;
            float amax = 0;
            for (int j = 0; j < QK; j++) {
                amax = Math.max(amax, Math.abs(src.get(F32, s + 4L * j)));
            }
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            dst.set(I16, o, Float.floatToFloat16(d));
            for (int j = 0; j < QK; j++) {
                dst.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) roundHalfAway(src.get(F32, s + 4L * j) * id));
            }
        }
    }

    /** {@code n} elements (a multiple of 32) of Q8_0 blocks → F32 {@code d·q}. */
    public static void dequantize(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, int n) {
        QuantVectors.requireBlocks(n, "Q8_0 dequantize");
        QuantVectors.requireBytes(src, srcOff, rowBytes(n), "Q8_0 dequantize source");
        QuantVectors.requireBytes(dst, dstOff, 4L * n, "Q8_0 dequantize destination");
        for (int b = 0; b < n / QK; b++) {
            long o = srcOff + (long) b * BLOCK_BYTES;
            float d = QuantVectors.f16(src, o);
            for (int j = 0; j < QK; j++) {
                dst.set(F32, dstOff + 4L * (b * QK + j), d * src.get(ValueLayout.JAVA_BYTE, o + 2 + j));
            }
        }
    }

    /** C's {@code roundf}: nearest, halves away from zero. */
    static int roundHalfAway(float v) {
        double a = Math.floor(Math.abs((double) v) + 0.5);
        return (int) Math.copySign(a, v);
    }
}
