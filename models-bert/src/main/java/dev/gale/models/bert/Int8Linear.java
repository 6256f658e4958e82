package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.gale.kernels.gemm.GemmPacked;
import dev.gale.kernels.gemm.PackedWeights;
import dev.gale.kernels.quant.DynamicQuantU8;
import dev.gale.kernels.quant.GemmU8S8;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The int8 model's linear layer, exactly as its ONNX graph computes it: {@code DynamicQuantizeLinear} of the
 * activations (uint8, one scale and zero point per sentence, {@link DynamicQuantU8}), then {@code MatMulInteger}
 * against int8 weights with zero point 0, {@code Cast}, the multiply by {@code activationScale × weightScale[col]}
 * and the bias, with {@link GemmU8S8}'s bits. On the CPU the product runs as {@link GemmPacked#u8s8}: the int8
 * weights packed once at load as exact floats, so the integer sums run on the F32 GEMM's register tile in exact chunks
 * (several times the speed of the integer kernel on AVX2, which has no 8-bit dot product), the activations quantized
 * while they are packed; the device graph uses
 * {@link GemmU8S8}'s kernels on {@link #weights()}.
 */
public final class Int8Linear implements Linear {
    private final int in;
    private final int out;
    private final MemorySegment w;
    private final PackedWeights packed;
    private final MemorySegment wScale;
    private final MemorySegment bias;

    /** @param wInOut the ONNX {@code _quantized} weight, {@code [in][out]} int8 row-major (kept in that layout) */
    public Int8Linear(byte[] wInOut, float[] wScale, float[] bias, int in, int out) {
        if (wInOut.length != (long) in * out || wScale.length != out || bias.length != out || in > GemmU8S8.MAX_IN) {
            throw new IllegalArgumentException("int8 linear: weight " + wInOut.length + ", scales " + wScale.length
                    + ", bias " + bias.length + " for " + in + "x" + out);
        }
        this.in = in;
        this.out = out;
        Arena arena = Arena.ofAuto();
        this.w = arena.allocate(wInOut.length, 64);
        MemorySegment.copy(wInOut, 0, w, JAVA_BYTE, 0, wInOut.length);
        this.packed = PackedWeights.int8Columns(w, in, out);
        this.wScale = arena.allocate(4L * out, 64);
        MemorySegment.copy(wScale, 0, this.wScale, JAVA_FLOAT, 0, out);
        this.bias = arena.allocate(4L * out, 64);
        MemorySegment.copy(bias, 0, this.bias, JAVA_FLOAT, 0, out);
    }

    @Override
    public int in() {
        return in;
    }

    @Override
    public int out() {
        return out;
    }

    /** The int8 weights, {@code [in][out]} (read-only use). */
    public MemorySegment weights() {
        return w;
    }

    /** Per-output-column weight scales, {@code [out]} F32. */
    public MemorySegment weightScales() {
        return wScale;
    }

    /** {@code [out]} F32. */
    public MemorySegment bias() {
        return bias;
    }

    @Override
    public void apply(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths) {
        apply(x, y, batch, seq, lengths, false);
    }

    @Override
    public void applyGelu(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths) {
        apply(x, y, batch, seq, lengths, true);
    }

    private void apply(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths, boolean gelu) {
        int rows = batch * seq;
        // Scratch freed by the GC: closing a shared arena costs a handshake with every thread, per layer per call.
        Arena arena = Arena.ofAuto();
        MemorySegment params = arena.allocate(8L * batch, 64);
        MemorySegment len = arena.allocate(4L * batch, 64);
        MemorySegment.copy(lengths, 0, len, JAVA_INT, 0, batch);
        DynamicQuantU8.paramsParallel(x, len, params, batch, seq, in);
        GemmPacked.u8s8Quantizing(packed, x, params, seq, wScale, bias, y, rows, gelu);
    }
}
