package dev.gale.kernels.gemm;

import static dev.gale.kernels.Operands.F32;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;

/**
 * Matrix-vector product with F32 weights: {@code y[o] = Σ_i W[o][i] · x[i]}, the decode (one token) case of a linear
 * layer.
 *
 * <p>Layout: {@code W} is row-major {@code [out][in]} F32 at byte offset {@code wOff} of {@code w}; {@code x} is
 * {@code in} F32 values at {@code xOff}; {@code y} receives {@code out} F32 values at {@code yOff}. All little
 * endian. Arguments always come in the order weights, activations, output, then the dimensions {@code out, in}.
 *
 * <p>The Vector API path ({@link GemvKernel}, shared with {@link GemvF16}) streams {@link #ROWS} weight rows per pass,
 * so each activation vector loaded is used {@code ROWS} times, with two independent accumulators per row (unrolled by
 * two vectors along {@code in}) and one lane reduction per row. The tail of a row that does not fill a vector is
 * summed in scalar F32. Accuracy: within {@link dev.gale.kernels.Numerics#dotBound} of the exact dot product.
 */
public final class GemvF32 {
    private static final String OP = "gemv f32";
    /** Weight rows streamed per pass (each activation vector is reused this many times). */
    public static final int ROWS = 4;

    private GemvF32() {
    }

    /** Scalar reference, accumulating each row in double: {@code y[o] = (float) Σ_i (double) W[o][i] · x[i]}. */
    public static void reference(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff,
            int out, int in) {
        check(w, wOff, x, xOff, y, yOff, out, in);
        for (int o = 0; o < out; o++) {
            double s = 0;
            long row = wOff + (long) o * in * Float.BYTES;
            for (int i = 0; i < in; i++) {
                s += (double) w.get(F32, row + 4L * i) * x.get(F32, xOff + 4L * i);
            }
            y.set(F32, yOff + 4L * o, (float) s);
        }
    }

    /** Vector API path over all rows, split across {@link WorkerPool#shared()}. */
    public static void gemv(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff,
            int out, int in) {
        check(w, wOff, x, xOff, y, yOff, out, in);
        int blocks = (out + ROWS - 1) / ROWS;
        WorkerPool.shared().parallelFor(blocks, grainBlocks(in, Float.BYTES),
                (s, e) -> rowsUnchecked(w, wOff, x, xOff, y, yOff, in, s * ROWS, Math.min(out, e * ROWS)));
    }

    /** Vector API path over rows {@code [rowStart, rowEnd)} on the calling thread; allocates nothing. */
    public static void rows(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff,
            int out, int in, int rowStart, int rowEnd) {
        check(w, wOff, x, xOff, y, yOff, out, in);
        Operands.range(OP, "row", rowStart, rowEnd, out);
        rowsUnchecked(w, wOff, x, xOff, y, yOff, in, rowStart, rowEnd);
    }

    static void check(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff, int out,
            int in) {
        Operands.dims(OP, 1, out, in);
        Operands.matrix(OP, "W (weights)", w, wOff, out, in, Float.BYTES, "F32");
        Operands.matrix(OP, "x (activations)", x, xOff, 1, in, Float.BYTES, "F32");
        Operands.matrix(OP, "y (output)", y, yOff, 1, out, Float.BYTES, "F32");
    }

    /** Row blocks per parallel chunk: at least ~256 KiB of weights, so a chunk outweighs the hand-off. */
    static int grainBlocks(int in, int elemBytes) {
        return (int) Math.max(1, (256L << 10) / ((long) ROWS * in * elemBytes));
    }

    static void rowsUnchecked(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff,
            int in, int rowStart, int rowEnd) {
        GemvKernel.rows(false, w, wOff, x, xOff, y, yOff, in, rowStart, rowEnd);
    }
}
