package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;

/**
 * The int8 model's linear layer, exactly as its ONNX graph computes it: {@code DynamicQuantizeLinear} of the
 * activations (uint8, one scale and zero point per sentence, see {@link DynamicQuantizer}), {@code MatMulInteger}
 * against int8 weights with zero point 0 ({@link Int8MatMul}), {@code Cast} to float, a multiply by
 * {@code activationScale × weightScale[col]} (that product rounded to float first, as the graph's own {@code Mul}
 * node does), then the bias.
 */
public final class Int8Linear implements Linear {
    private final int in;
    private final int out;
    private final byte[] w;
    private final float[] wScale;
    private final float[] bias;

    /** @param wInOut the ONNX {@code _quantized} weight, {@code [in][out]} int8 row-major */
    public Int8Linear(byte[] wInOut, float[] wScale, float[] bias, int in, int out) {
        if (wInOut.length != (long) in * out || wScale.length != out || bias.length != out || in > Int8MatMul.MAX_IN) {
            throw new IllegalArgumentException("int8 linear: weight " + wInOut.length + ", scales " + wScale.length
                    + ", bias " + bias.length + " for " + in + "x" + out);
        }
        this.in = in;
        this.out = out;
        this.wScale = wScale.clone();
        this.bias = bias.clone();
        this.w = new byte[in * out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                w[o * in + i] = wInOut[i * out + o];
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

    @Override
    public void apply(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths) {
        int[] q = new int[batch * seq * in];
        float[] multiplier = new float[batch * out];
        WorkerPool.shared().parallelFor(batch, 1, (s, e) -> {
            for (int b = s; b < e; b++) {
                float[] p = DynamicQuantizer.params(x, b * seq, b * seq + lengths[b], in);
                DynamicQuantizer.quantize(x, b * seq, (b + 1) * seq, in, p[0], p[1], q);
                for (int c = 0; c < out; c++) {
                    multiplier[b * out + c] = p[0] * wScale[c];
                }
            }
        });
        WorkerPool.shared().parallelFor(batch * seq, 1, (s, e) -> {
            int[] acc = new int[out];
            for (int r = s; r < e; r++) {
                Int8MatMul.row(q, r * in, w, in, out, acc);
                int m = (r / seq) * out;
                long yo = (long) r * out;
                for (int c = 0; c < out; c++) {
                    y.setAtIndex(JAVA_FLOAT, yo + c, (float) acc[c] * multiplier[m + c] + bias[c]);
                }
            }
        });
    }
}
