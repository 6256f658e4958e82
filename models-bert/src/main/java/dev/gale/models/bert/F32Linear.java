package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.gale.kernels.gemm.GemmPacked;
import dev.gale.kernels.gemm.PackedWeights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * An F32 linear layer on Gale's packed-weight GEMM ({@link GemmPacked}: Vector API, register-tiled, the bias and an
 * optional GELU fused into the epilogue). The ONNX file stores {@code W} as {@code [in][out]} ({@code y = x·W}); it is
 * packed once at load into the GEMM's panels, and kept transposed to {@code [out][in]} for the device graph.
 */
public final class F32Linear implements Linear {
    private final int in;
    private final int out;
    private final MemorySegment w;
    private final PackedWeights packed;
    private final float[] bias;
    private final MemorySegment biasSegment;

    /** @param wInOut the ONNX weight, {@code [in][out]} row-major */
    public F32Linear(float[] wInOut, float[] bias, int in, int out) {
        if (wInOut.length != (long) in * out || bias.length != out) {
            throw new IllegalArgumentException("linear: weight of " + wInOut.length + " and bias of " + bias.length
                    + " for " + in + "x" + out);
        }
        this.in = in;
        this.out = out;
        this.bias = bias.clone();
        Arena arena = Arena.ofAuto();
        this.biasSegment = arena.allocate((long) out * Float.BYTES, 64);
        MemorySegment.copy(bias, 0, biasSegment, JAVA_FLOAT, 0, out);
        this.packed = PackedWeights.columns(wInOut, in, out);
        this.w = arena.allocate((long) in * out * Float.BYTES, 64);
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                w.setAtIndex(JAVA_FLOAT, (long) o * in + i, wInOut[i * out + o]);
            }
        }
    }

    @Override
    public int in() {
        return in;
    }

    @Override
    public int out() {
        return out;
    }

    /** The weight transposed to {@code [out][in]} F32, as the device GEMM reads it (read-only use). */
    public MemorySegment weights() {
        return w;
    }

    public float[] bias() {
        return bias.clone();
    }

    @Override
    public void apply(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths) {
        GemmPacked.gemm(packed, x, 0, y, 0, batch * seq, biasSegment, false);
    }

    @Override
    public void applyGelu(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths) {
        GemmPacked.gemm(packed, x, 0, y, 0, batch * seq, biasSegment, true);
    }
}
