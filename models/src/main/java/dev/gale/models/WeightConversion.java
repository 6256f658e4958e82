package dev.gale.models;

import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q8_0;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Re-encodes a weight tensor row by row, through F32, with the quantizers and dequantizers of
 * {@code dev.gale.kernels.quant} (llama.cpp's reference rounding). Same type in and out is a byte copy.
 */
public final class WeightConversion {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private WeightConversion() {
    }

    /** Whether {@code tensor} can be stored as {@code type}: its rows must be whole blocks. */
    public static boolean fits(WeightTensor tensor, WeightType type) {
        return tensor.rowLength() % type.blockSize() == 0;
    }

    /** Writes {@code src} encoded as {@code target} into {@code dst} (exactly {@code target.byteSize(elements)}). */
    public static void convert(WeightTensor src, WeightType target, MemorySegment dst) {
        MemorySegment in = src.data().segment();
        if (src.type() == target) {
            MemorySegment.copy(in, 0, dst, 0, src.byteSize());
            return;
        }
        int n = Math.toIntExact(src.rowLength());
        long rows = src.rows();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment row = arena.allocate(4L * n, 64);
            for (long r = 0; r < rows; r++) {
                MemorySegment f32 = toF32(src.type(), in, src.type().byteSize(n) * r, n, row);
                fromF32(f32, target, dst, target.byteSize(n) * r, n);
            }
        }
    }

    /** Row {@code r} of {@code t} as F32 values. */
    public static float[] row(WeightTensor t, long r) {
        int n = Math.toIntExact(t.rowLength());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment row = arena.allocate(4L * n, 64);
            return toF32(t.type(), t.data().segment(), t.type().byteSize(n) * r, n, row).toArray(F32);
        }
    }

    private static MemorySegment toF32(WeightType type, MemorySegment in, long off, int n, MemorySegment row) {
        switch (type) {
            case F32 -> MemorySegment.copy(in, off, row, 0, 4L * n);
            case F16 -> {
                for (int j = 0; j < n; j++) {
                    row.set(F32, 4L * j, Float.float16ToFloat(in.get(F16, off + 2L * j)));
                }
            }
            case Q8_0 -> Q8_0.dequantize(in, off, row, 0, n);
            case Q4_0 -> Q4_0.dequantize(in, off, row, 0, n);
            case I8 -> throw new IllegalArgumentException("I8 tensors (W4Ax codes) are not converted");
        }
        return row;
    }

    private static void fromF32(MemorySegment row, WeightType type, MemorySegment out, long off, int n) {
        switch (type) {
            case F32 -> MemorySegment.copy(row, 0, out, off, 4L * n);
            case F16 -> {
                for (int j = 0; j < n; j++) {
                    out.set(F16, off + 2L * j, Float.floatToFloat16(row.get(F32, 4L * j)));
                }
            }
            case Q8_0 -> Q8_0.quantize(row, 0, out, off, n);
            case Q4_0 -> Q4_0.quantize(row, 0, out, off, n);
            case I8 -> throw new IllegalArgumentException("I8 tensors (W4Ax codes) are not converted");
        }
    }

    /** Quantizes F32 values in {@code row} (n of them) into {@code out} at {@code off} as {@code type}. */
    public static void encodeRow(MemorySegment row, WeightType type, MemorySegment out, long off, int n) {
        fromF32(row, type, out, off, n);
    }
}
