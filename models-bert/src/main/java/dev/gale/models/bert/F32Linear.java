package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.gemm.GemmF32;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * An F32 linear layer on Gale's GEMM ({@link GemmF32}, Vector API, register-tiled, parallel over output panels),
 * then the bias. The ONNX file stores {@code W} as {@code [in][out]} ({@code y = x·W}); it is transposed once at load
 * to the {@code [out][in]} rows the GEMM reads.
 */
public final class F32Linear implements Linear {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private final int in;
    private final int out;
    private final MemorySegment w;
    private final float[] bias;

    /** @param wInOut the ONNX weight, {@code [in][out]} row-major */
    public F32Linear(float[] wInOut, float[] bias, int in, int out) {
        if (wInOut.length != (long) in * out || bias.length != out) {
            throw new IllegalArgumentException("linear: weight of " + wInOut.length + " and bias of " + bias.length
                    + " for " + in + "x" + out);
        }
        this.in = in;
        this.out = out;
        this.bias = bias.clone();
        this.w = Arena.ofAuto().allocate((long) in * out * Float.BYTES, 64);
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

    /** The weight transposed to {@code [out][in]} F32, as the GEMM reads it (read-only use). */
    public MemorySegment weights() {
        return w;
    }

    public float[] bias() {
        return bias.clone();
    }

    @Override
    public void apply(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths) {
        int rows = batch * seq;
        GemmF32.gemm(w, 0, x, 0, y, 0, rows, out, in);
        WorkerPool.shared().parallelFor(rows, Math.max(1, 8192 / out), (s, e) -> addBias(y, s, e));
    }

    private void addBias(MemorySegment y, int from, int to) {
        int bound = F.loopBound(out);
        for (int r = from; r < to; r++) {
            long row = (long) r * out * Float.BYTES;
            int c = 0;
            for (; c < bound; c += F.length()) {
                FloatVector.fromMemorySegment(F, y, row + 4L * c, ORDER).add(FloatVector.fromArray(F, bias, c))
                        .intoMemorySegment(y, row + 4L * c, ORDER);
            }
            for (; c < out; c++) {
                y.set(JAVA_FLOAT, row + 4L * c, y.get(JAVA_FLOAT, row + 4L * c) + bias[c]);
            }
        }
    }
}
