package dev.gale.kernels.norm;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.ChannelBlocks;
import java.lang.foreign.MemorySegment;

/**
 * RMSNorm fused with the W4Ax activation quantizer: {@code h = x / sqrt(mean(x²) + eps) · w} per row, and each row of
 * {@code h} quantized per 128-channel block into an {@link ActivationQuant} ({@link ChannelBlocks} layout) right
 * after it is written, in one pass over the rows. The quantization is done once per normalised vector for every
 * matrix that reads it (a decoder layer's wq, wk, wv or w1, w3), where the unfused graph quantized the same vector
 * once per matrix, and reads a row that is still in L1.
 *
 * <p>The fusion is at row granularity: each path is exactly its unfused composition row by row, so the results are
 * <b>bit-identical</b> to {@link RmsNorm} followed by {@link ActivationQuant#quantize(MemorySegment, long, int,
 * ChannelBlocks)} (Vector API), or {@link RmsNorm#reference} followed by
 * {@link ActivationQuant#quantizeReference(MemorySegment, long, int, ChannelBlocks)} (tested). Normalising a block
 * in registers and quantizing it without storing {@code h} would save only L1 traffic on a vector of a few thousand
 * floats, and {@code h} is still written: the graph's other readers (and the device path) take it.
 *
 * <p>Layout as {@link RmsNorm}: {@code x}, {@code h} are {@code tokens × dim} F32 rows, {@code dim = layout.in()};
 * {@code h} may be {@code x}. The quantized rows land in {@code q} (allocated for at least {@code tokens} and the
 * layout's width and precision map).
 */
public final class RmsNormQuant {
    /** Rows per parallel chunk at least: a decode step (one row) stays on the caller. */
    private static final int PARALLEL_ROWS = 8;

    private RmsNormQuant() {
    }

    /** The scalar reference: {@link RmsNorm#reference} and the quantizer's reference, row by row. */
    public static void reference(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment h, long hOff,
            int tokens, float eps, ChannelBlocks layout, ActivationQuant q) {
        int dim = layout.in();
        for (int t = 0; t < tokens; t++) {
            long row = 4L * t * dim;
            RmsNorm.reference(x, xOff + row, w, wOff, h, hOff + row, 1, dim, eps);
            q.quantizeRowsReference(h, hOff, tokens, t, t + 1, layout);
        }
    }

    /** The Vector API path on the calling thread; allocates nothing. */
    public static void apply(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment h, long hOff,
            int tokens, float eps, ChannelBlocks layout, ActivationQuant q) {
        rows(x, xOff, w, wOff, h, hOff, tokens, eps, layout, q, 0, tokens);
    }

    /** The Vector API path with rows split over {@link WorkerPool#shared()} (a prefill; one row runs inline). */
    public static void applyParallel(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment h,
            long hOff, int tokens, float eps, ChannelBlocks layout, ActivationQuant q) {
        if (tokens < 2 * PARALLEL_ROWS) {
            rows(x, xOff, w, wOff, h, hOff, tokens, eps, layout, q, 0, tokens);
            return;
        }
        WorkerPool.shared().parallelFor(tokens, PARALLEL_ROWS,
                (s, e) -> rows(x, xOff, w, wOff, h, hOff, tokens, eps, layout, q, s, e));
    }

    private static void rows(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment h, long hOff,
            int tokens, float eps, ChannelBlocks layout, ActivationQuant q, int t0, int t1) {
        int dim = layout.in();
        for (int t = t0; t < t1; t++) {
            long row = 4L * t * dim;
            RmsNorm.apply(x, xOff + row, w, wOff, h, hOff + row, 1, dim, eps);
            q.quantizeRows(h, hOff, tokens, t, t + 1, layout);
        }
    }
}
