package dev.gale.kernels.quant;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * ONNX {@code DynamicQuantizeLinear} (activations to uint8, as ONNX Runtime computes it), one range per sentence: the
 * range {@code [min(0, min x), max(0, max x)]} over the sentence's real tokens, {@code scale = (max − min) / 255}
 * (1 when the range is empty), zero point {@code round_half_even(clamp(−min / scale, 0, 255))}, and
 * {@code q = clamp(round_half_even(x / scale) + zp, 0, 255)}.
 *
 * <p>The ONNX graph takes one range over its whole input tensor. Per sentence equals the graph run on each sentence
 * alone and keeps a sentence's result independent of its batch and of the padding (padded rows would widen the
 * range); padded rows are quantized with their sentence's parameters and never read.
 *
 * <p>Layout: {@code x} F32 {@code [batch][seq][cols]}, {@code lengths} I32 {@code [batch]} (real tokens per
 * sentence), {@code q} U8 like {@code x}, {@code params} F32 {@code [batch][scale, zeroPoint]}. Min, max, the
 * division and round-half-even are exact operations, so every path gives the reference's bits. Vector API: the range
 * (lane-wise min and max), sentences split over the worker pool.
 */
public final class DynamicQuantU8 {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private DynamicQuantU8() {
    }

    public static float scale(float min, float max) {
        return max == min ? 1f : (max - min) / 255f;
    }

    public static float zeroPoint(float min, float scale) {
        return (float) Math.rint(Math.max(0f, Math.min(255f, 0f - min / scale)));
    }

    /** {@code q} of one value, 0 … 255. */
    public static int quantize(float v, float scale, float zeroPoint) {
        float q = (float) Math.rint(v / scale) + zeroPoint;
        return (int) Math.max(0f, Math.min(255f, q));
    }

    /** The scalar reference over a padded batch. */
    public static void reference(MemorySegment x, MemorySegment lengths, MemorySegment q, MemorySegment params,
            int batch, int seq, int cols) {
        check(x, lengths, q, params, batch, seq, cols);
        for (int b = 0; b < batch; b++) {
            long from = (long) b * seq * cols;
            long real = from + (long) length(lengths, b, seq) * cols;
            float min = 0;
            float max = 0;
            for (long i = from; i < real; i++) {
                float v = x.getAtIndex(F32, i);
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            float scale = scale(min, max);
            float zp = zeroPoint(min, scale);
            params.setAtIndex(F32, 2L * b, scale);
            params.setAtIndex(F32, 2L * b + 1, zp);
            for (long i = from; i < from + (long) seq * cols; i++) {
                q.set(JAVA_BYTE, i, (byte) quantize(x.getAtIndex(F32, i), scale, zp));
            }
        }
    }

    /** Vector API, sentences split over {@link WorkerPool#shared()}. */
    public static void applyParallel(MemorySegment x, MemorySegment lengths, MemorySegment q, MemorySegment params,
            int batch, int seq, int cols) {
        check(x, lengths, q, params, batch, seq, cols);
        WorkerPool.shared().parallelFor(batch, 1, (s, e) -> {
            for (int b = s; b < e; b++) {
                sentence(x, lengths, q, params, b, seq, cols);
            }
        });
    }

    /**
     * Only the quantization parameters ({@code params}, as {@link #applyParallel} writes them), for a consumer that
     * quantizes the values itself while it reads them ({@link dev.gale.kernels.gemm.GemmPacked#u8s8Quantizing}).
     */
    public static void paramsParallel(MemorySegment x, MemorySegment lengths, MemorySegment params, int batch, int seq,
            int cols) {
        long n = (long) batch * seq * cols;
        if (x.byteSize() < 4 * n || lengths.byteSize() < 4L * batch || params.byteSize() < 8L * batch) {
            throw new IllegalArgumentException("dynamic_quant: segments too small for " + batch + "x" + seq + "x"
                    + cols);
        }
        WorkerPool.shared().parallelFor(batch, 1, (s, e) -> {
            for (int b = s; b < e; b++) {
                range(x, lengths, params, b, seq, cols);
            }
        });
    }

    private static void sentence(MemorySegment x, MemorySegment lengths, MemorySegment q, MemorySegment params, int b,
            int seq, int cols) {
        range(x, lengths, params, b, seq, cols);
        float scale = params.getAtIndex(F32, 2L * b);
        float zp = params.getAtIndex(F32, 2L * b + 1);
        long from = (long) b * seq * cols;
        // The quantization itself stays scalar (division, rint and the clamp are single instructions): the vector
        // form's narrowing F2I → I2B to bytes is not intrinsified on AVX2 and ran ~50x slower than this loop.
        long end = from + (long) seq * cols;
        for (long i = from; i < end; i++) {
            q.set(JAVA_BYTE, i, (byte) quantize(x.getAtIndex(F32, i), scale, zp));
        }
    }

    /** Sentence {@code b}'s range over its real rows, as its scale and zero point in {@code params}. */
    private static void range(MemorySegment x, MemorySegment lengths, MemorySegment params, int b, int seq, int cols) {
        long from = (long) b * seq * cols;
        long real = from + (long) length(lengths, b, seq) * cols;
        FloatVector lo = FloatVector.zero(F);
        FloatVector hi = FloatVector.zero(F);
        long i = from;
        for (; i + L <= real; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, 4 * i, ORDER);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        float min = 0;
        float max = 0;
        for (int j = 0; j < L; j++) {
            min = Math.min(min, lo.lane(j));
            max = Math.max(max, hi.lane(j));
        }
        for (; i < real; i++) {
            float v = x.getAtIndex(F32, i);
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        float scale = scale(min, max);
        float zp = zeroPoint(min, scale);
        params.setAtIndex(F32, 2L * b, scale);
        params.setAtIndex(F32, 2L * b + 1, zp);
    }

    private static int length(MemorySegment lengths, int b, int seq) {
        int n = lengths.getAtIndex(JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), b);
        if (n < 0 || n > seq) {
            throw new IllegalArgumentException("dynamic_quant: sentence " + b + " has length " + n + " outside [0, "
                    + seq + "]");
        }
        return n;
    }

    private static void check(MemorySegment x, MemorySegment lengths, MemorySegment q, MemorySegment params,
            int batch, int seq, int cols) {
        long n = (long) batch * seq * cols;
        if (x.byteSize() < 4 * n || q.byteSize() < n || lengths.byteSize() < 4L * batch
                || params.byteSize() < 8L * batch) {
            throw new IllegalArgumentException("dynamic_quant: segments too small for " + batch + "x" + seq + "x"
                    + cols);
        }
    }
}
