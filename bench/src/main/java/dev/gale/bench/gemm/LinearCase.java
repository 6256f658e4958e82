package dev.gale.bench.gemm;

import dev.gale.bench.BenchCase;
import dev.gale.bench.Roofline;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.gemm.GemmF16;
import dev.gale.kernels.gemm.GemmF32;
import dev.gale.kernels.gemm.GemvF16;
import dev.gale.kernels.gemm.GemvF32;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One linear layer {@code Y[tokens][out] = X[tokens][in] · W[out][in]ᵀ} at one shape: a GEMV when
 * {@code tokens == 1} (compared with read bandwidth), a GEMM otherwise (compared with the FMA peak). Runs the
 * parallel entry point on {@link WorkerPool#shared()}. Synthetic data: speed does not depend on weight values.
 */
public final class LinearCase implements BenchCase {
    /** Weight storage type. */
    public enum Weights {
        F32(4),
        F16(2);

        final int bytes;

        Weights(int bytes) {
            this.bytes = bytes;
        }
    }

    private final Weights weights;
    private final int tokens;
    private final int out;
    private final int in;
    private final String origin;
    private Arena arena;
    private MemorySegment w;
    private MemorySegment x;
    private MemorySegment y;

    /**
     * @param origin where the shape comes from, e.g. {@code Llama-3-8B ffn_up}
     */
    public LinearCase(Weights weights, int tokens, int out, int in, String origin) {
        this.weights = weights;
        this.tokens = tokens;
        this.out = out;
        this.in = in;
        this.origin = origin;
    }

    @Override
    public String op() {
        return (tokens == 1 ? "gemv " : "gemm ") + weights.name().toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public String shape() {
        return (tokens == 1 ? "" : tokens + "x") + out + "x" + in + " (" + origin + ")";
    }

    @Override
    public String impl() {
        return "vector-api x" + WorkerPool.shared().threads();
    }

    /** Weights, activations and outputs, each touched once. */
    @Override
    public double bytes() {
        return (double) out * in * weights.bytes + 4.0 * tokens * in + 4.0 * tokens * out;
    }

    @Override
    public double flops() {
        return 2.0 * tokens * out * in;
    }

    @Override
    public Roofline roofline() {
        return tokens == 1 ? Roofline.READ_BW : Roofline.FMA_PEAK;
    }

    /** Bytes of weights alone. */
    public long weightBytes() {
        return (long) out * in * weights.bytes;
    }

    @Override
    public void setup() {
        arena = Arena.ofShared();
        w = arena.allocate(weightBytes(), 64);
        x = arena.allocate(4L * tokens * in, 64);
        y = arena.allocate(4L * tokens * out, 64);
        // 0x3c3c3c3c is 0.0115 as F32 and each half 0x3c3c is 1.06 as F16: finite, no subnormals.
        w.fill((byte) 0x3c);
        x.fill((byte) 0x3c);
    }

    @Override
    public void run() {
        switch (weights) {
            case F32 -> GemmF32.gemm(w, 0, x, 0, y, 0, tokens, out, in);
            case F16 -> GemmF16.gemm(w, 0, x, 0, y, 0, tokens, out, in);
        }
    }

    /** The single-thread entry point over all outputs (for JMH comparisons against the parallel one). */
    public void runSingleThread() {
        if (tokens == 1) {
            switch (weights) {
                case F32 -> GemvF32.rows(w, 0, x, 0, y, 0, out, in, 0, out);
                case F16 -> GemvF16.rows(w, 0, x, 0, y, 0, out, in, 0, out);
            }
        } else {
            switch (weights) {
                case F32 -> GemmF32.outputs(w, 0, x, 0, y, 0, tokens, out, in, 0, out);
                case F16 -> GemmF16.outputs(w, 0, x, 0, y, 0, tokens, out, in, 0, out);
            }
        }
    }

    /** One output value, for JMH to consume. */
    public float firstOutput() {
        return y.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0);
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            arena = null;
        }
    }
}
