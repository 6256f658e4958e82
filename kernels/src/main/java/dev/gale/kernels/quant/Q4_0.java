package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I16;
import static dev.gale.kernels.quant.QuantVectors.QK;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * llama.cpp's {@code block_q4_0}, byte for byte: {@code {fp16 d; uint8 qs[16]}} (18 bytes, little endian), value
 * {@code d·(nib − 8)}. Byte {@code j} holds element {@code j} in its low nibble and element {@code j + 16} in its high
 * nibble. A row of {@code in} elements is {@code in/32} consecutive blocks. This is the import/export format and the
 * input of the scalar references; decode repacks it once ({@link Q4_0Lanes#pack} for Q8 activations,
 * {@link Q4_0Packed#pack} for F32 ones), and {@link Q4_0Matmul} reads it directly.
 */
public final class Q4_0 {
    /** Elements per block. */
    public static final int BLOCK = QK;
    /** Bytes per block: the fp16 scale then 16 bytes of nibbles. */
    public static final int BLOCK_BYTES = 2 + QK / 2;

    private Q4_0() {
    }

    /** Bytes of one row of {@code in} elements ({@code in} a multiple of 32). */
    public static long rowBytes(int in) {
        QuantVectors.requireBlocks(in, "Q4_0 row");
        return (long) (in / QK) * BLOCK_BYTES;
    }

    /**
     * Quantizes {@code n} F32 values (a multiple of 32) as ggml's {@code quantize_row_q4_0_ref} does: {@code max} is
     * the signed value of largest magnitude (the first one on ties), {@code d = max / −8},
     * {@code id = d != 0 ? 1/d : 0}, {@code nib = min(15, (int)(x·id + 8.5))}, d stored as fp16.
     */
    public static void quantize(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, int n) {
        QuantVectors.requireBlocks(n, "Q4_0 quantize");
        QuantVectors.requireBytes(src, srcOff, 4L * n, "Q4_0 quantize source");
        QuantVectors.requireBytes(dst, dstOff, rowBytes(n), "Q4_0 quantize destination");
        for (int b = 0; b < n / QK; b++) {
            long s = srcOff + 4L * b * QK;
            long o = dstOff + (long) b * BLOCK_BYTES;
            float amax = 0;
            float max = 0;
            for (int j = 0; j < QK; j++) {
                float v = src.get(F32, s + 4L * j);
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -8f;
            float id = d != 0 ? 1f / d : 0f;
            dst.set(I16, o, Float.floatToFloat16(d));
            for (int j = 0; j < QK / 2; j++) {
                int lo = nibble(src.get(F32, s + 4L * j) * id);
                int hi = nibble(src.get(F32, s + 4L * (j + QK / 2)) * id);
                dst.set(ValueLayout.JAVA_BYTE, o + 2 + j, (byte) (lo | (hi << 4)));
            }
        }
    }

    /** {@code n} elements (a multiple of 32) of Q4_0 blocks → F32 {@code d·(nib − 8)}. */
    public static void dequantize(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, int n) {
        QuantVectors.requireBlocks(n, "Q4_0 dequantize");
        QuantVectors.requireBytes(src, srcOff, rowBytes(n), "Q4_0 dequantize source");
        QuantVectors.requireBytes(dst, dstOff, 4L * n, "Q4_0 dequantize destination");
        for (int b = 0; b < n / QK; b++) {
            long o = srcOff + (long) b * BLOCK_BYTES;
            float d = QuantVectors.f16(src, o);
            long out = dstOff + 4L * b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, o + 2 + j) & 0xff;
                dst.set(F32, out + 4L * j, d * ((q & 0xf) - 8));
                dst.set(F32, out + 4L * (j + QK / 2), d * ((q >>> 4) - 8));
            }
        }
    }

    /** The unsigned nibble (0..15) of element {@code j} (0..31) of the block at {@code blockOff}. */
    static int nibble(MemorySegment w, long blockOff, int j) {
        int q = w.get(ValueLayout.JAVA_BYTE, blockOff + 2 + (j & 15)) & 0xff;
        return j < QK / 2 ? q & 0xf : q >>> 4;
    }

    /** ggml's {@code MIN(15, (int8_t)(v + 8.5f))}; v is within [−8, 8] for finite input. */
    private static int nibble(float v) {
        return Math.min(15, (int) (v + 8.5f));
    }
}
