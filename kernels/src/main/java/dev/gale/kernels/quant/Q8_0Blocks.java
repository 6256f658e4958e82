package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.B;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q8_0 weights in llama.cpp's own block layout, copied once at load (onto the allocator's pages: huge pages in the
 * decoder) and read as they are: the Q8_0 decode layout where vectors are 512 bits wide
 * ({@link QuantMatMulOp#q8_0(MemorySegment, long, int, int, SegmentAllocator)}). The one-token GEMV is
 * {@link Q8_0Matmul#gemvF32QuarterStreams} (each thread's 4-row groups from the 4 quarters of its rows: four memory
 * streams; 1B decode table 9.94 against 7.95 tok/s on adjacent rows), a few tokens
 * {@link Q8_0Matmul#matmulF32Parallel}; a block decodes to floats with one widening per {@link QuantVectors#L} quants
 * ({@link #decodeBlock}, the prefill panels' codec).
 *
 * <p>Why not a repacked layout there: over a Llama-3.2-1B step's Q8_0 GEMVs (113 matrices, two threads, alternating
 * step by step in one JVM, 2026-11-28) this kernel took 97.1 / 118.5 ms, a row-lane layout (16 rows per F32 vector)
 * 113.1 / 124.6 ms and {@link Q8_0Packed}'s 4-row layout 130.1 / 156.4 ms; it also reads 34 bytes per block instead of
 * 36. On AVX2 (Zen 3) the 4-row layout was the faster, so it stays the decode's layout below 512 bits.
 */
public record Q8_0Blocks(MemorySegment blocks, int rows, int in) {
    public Q8_0Blocks {
        QuantVectors.requireBlocks(in, "Q8_0 blocks");
        QuantVectors.requirePositive(rows, "Q8_0 blocks rows");
        QuantVectors.requireBytes(blocks, 0, rows * Q8_0.rowBytes(in), "Q8_0 blocks");
    }

    /** Copies {@code rows} llama.cpp Q8_0 rows of {@code in} elements at {@code wOff} into {@code allocator}'s memory. */
    public static Q8_0Blocks copy(MemorySegment w, long wOff, int rows, int in, SegmentAllocator allocator) {
        QuantVectors.requireBlocks(in, "Q8_0 blocks copy");
        QuantVectors.requirePositive(rows, "Q8_0 blocks rows");
        long bytes = rows * Q8_0.rowBytes(in);
        QuantVectors.requireBytes(w, wOff, bytes, "Q8_0 blocks source");
        MemorySegment copy = allocator.allocate(bytes, 64);
        MemorySegment.copy(w, wOff, copy, 0, bytes);
        return new Q8_0Blocks(copy, rows, in);
    }

    /**
     * {@code Y[t][r] = X[t]·W[r]} for all rows, over the shared worker pool: one token with each thread reading four
     * quarters of its rows side by side ({@link Q8_0Matmul#gemvF32QuarterStreams}), more tokens with
     * {@link Q8_0Matmul#matmulF32Parallel}.
     */
    public void matmulF32Parallel(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        if (tokens == 1) {
            Q8_0Matmul.INSTANCE.gemvF32QuarterStreams(blocks, 0, rows, in, x, xOff, y, yOff);
        } else {
            Q8_0Matmul.INSTANCE.matmulF32Parallel(blocks, 0, rows, in, x, xOff, tokens, y, yOff);
        }
    }

    private long blockOffset(int r, int b) {
        return r * Q8_0.rowBytes(in) + (long) b * Q8_0.BLOCK_BYTES;
    }

    /** Block {@code b}'s scale of row {@code r}, the fp16 widened exactly. */
    float scale(int r, int b) {
        return QuantVectors.f16(blocks, blockOffset(r, b));
    }

    /** Quant {@code e} (0..31) of row {@code r}'s block {@code b}. */
    byte quant(int r, int b, int e) {
        return blocks.get(ValueLayout.JAVA_BYTE, blockOffset(r, b) + 2 + e);
    }

    /** Row {@code r}'s block {@code b} as 32 floats at {@code dst[off..]} (vector kernels only). */
    void decodeBlock(int r, int b, float[] dst, int off) {
        long q = blockOffset(r, b) + 2;
        for (int t = 0; t < QK; t += L) {
            ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, blocks, q + t, LE)
                    .convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).intoArray(dst, off + t);
        }
    }
}
