package dev.gale.kernels.gemm;

import static dev.gale.kernels.Operands.F16;
import static dev.gale.kernels.Operands.F32;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;

/**
 * Matrix product of a linear layer with F16 weights (IEEE binary16; activations and output F32):
 * {@code Y[t][o] = Σ_i X[t][i] · W[o][i]}, i.e. {@code Y = X·Wᵀ}.
 *
 * <p>Layout: {@code W} row-major {@code [out][in]} F16 at byte {@code wOff}; {@code X} row-major {@code [tokens][in]}
 * F32 at {@code xOff}; {@code Y} row-major {@code [tokens][out]} F32 at {@code yOff}; little endian. Arguments come
 * in the order weights, activations, output, then {@code tokens, out, in}.
 *
 * <p>The Vector API path is {@link GemmKernel} (register tile of 4 tokens × 2 or 3 vectors; weight panels are decoded
 * to F32 while packed, once per block of inputs, so the micro-kernel is the F32 one); with {@code tokens == 1}
 * {@link #gemm} goes to {@link GemvF16} instead.
 */
public final class GemmF16 {
    private static final String OP = "gemm f16";

    private GemmF16() {
    }

    /** Scalar reference: weights decoded with {@link Float#float16ToFloat}, each output accumulated in double. */
    public static void reference(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff,
            int tokens, int out, int in) {
        check(w, wOff, x, xOff, y, yOff, tokens, out, in);
        for (int t = 0; t < tokens; t++) {
            long xr = xOff + 4L * t * in;
            for (int o = 0; o < out; o++) {
                long wr = wOff + 2L * o * in;
                double s = 0;
                for (int i = 0; i < in; i++) {
                    s += (double) Float.float16ToFloat(w.get(F16, wr + 2L * i)) * x.get(F32, xr + 4L * i);
                }
                y.set(F32, yOff + 4L * ((long) t * out + o), (float) s);
            }
        }
    }

    /**
     * Vector API path, parallel on {@link WorkerPool#shared()} over output panels or token groups (whichever packs
     * less; the result is the same); {@code tokens == 1} runs the GEMV kernel.
     */
    public static void gemm(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff,
            int tokens, int out, int in) {
        check(w, wOff, x, xOff, y, yOff, tokens, out, in);
        if (tokens == 1) {
            GemvF16.gemv(w, wOff, x, xOff, y, yOff, out, in);
            return;
        }
        GemmKernel.parallel(true, w, wOff, x, xOff, y, yOff, tokens, out, in);
    }

    /**
     * Vector API path for outputs {@code [outStart, outEnd)} of every token, on the calling thread. Allocates
     * nothing once the calling thread's scratch (a packed weight block, and a packed activation block that grows to
     * {@code tokens × 256} floats) has been made by an earlier call at least this large.
     */
    public static void outputs(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff,
            int tokens, int out, int in, int outStart, int outEnd) {
        check(w, wOff, x, xOff, y, yOff, tokens, out, in);
        Operands.range(OP, "output", outStart, outEnd, out);
        GemmKernel.outputs(true, w, wOff, x, xOff, y, yOff, tokens, out, in, outStart, outEnd);
    }

    static void check(MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y, long yOff, int tokens,
            int out, int in) {
        Operands.dims(OP, tokens, out, in);
        Operands.matrix(OP, "W (weights)", w, wOff, out, in, 2, "F16");
        Operands.matrix(OP, "X (activations)", x, xOff, tokens, in, Float.BYTES, "F32");
        Operands.matrix(OP, "Y (output)", y, yOff, tokens, out, Float.BYTES, "F32");
    }
}
