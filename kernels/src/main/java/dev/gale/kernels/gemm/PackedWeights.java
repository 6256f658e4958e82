package dev.gale.kernels.gemm;

import static dev.gale.kernels.Operands.F32;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;

/**
 * A linear layer's weights {@code W[out][in]} packed once, at load, into the F32 panels {@link GemmKernel}'s register
 * tile reads: panel {@code p} holds outputs {@code [p·NR, p·NR + NR)} for every input, input-major,
 * {@code panels[(p·in + k)·NR + j] = W[p·NR + j][k]}, zero past the last output. {@link GemmPacked} multiplies with
 * them; per call it then packs only the activations, where {@link GemmF32} packs every weight block again on every
 * thread on every call (at BERT's 128 tokens a sentence that packing cost as much as a third of the product).
 *
 * <p>Sources: F32 {@code [out][in]} rows (Gale's layout), F32 {@code [in][out]} columns (ONNX's {@code MatMul}
 * initializers) and int8 {@code [in][out]} columns (the int8 graph's {@code MatMulInteger} weights, held as exact
 * floats so that {@link GemmPacked#u8s8} can sum u8 × s8 products on the F32 tile without rounding).
 */
public final class PackedWeights {
    private static final String OP = "packed weights";

    /** One weight by output and input. */
    private interface Source {
        float get(int o, int i);
    }

    final float[] panels;
    private final int out;
    private final int in;
    private final boolean int8;

    private PackedWeights(int out, int in, boolean int8, Source w) {
        Operands.dims(OP, 1, out, in);
        int panelCount = (out + GemmKernel.NR - 1) / GemmKernel.NR;
        long size = (long) panelCount * in * GemmKernel.NR;
        if (size > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException(OP + ": " + out + "x" + in + " is too large for one packed array");
        }
        this.out = out;
        this.in = in;
        this.int8 = int8;
        this.panels = new float[(int) size];
        int nr = GemmKernel.NR;
        for (int p = 0; p < panelCount; p++) {
            for (int j = 0; j < nr && p * nr + j < out; j++) {
                int o = p * nr + j;
                int base = p * in * nr + j;
                for (int k = 0; k < in; k++) {
                    panels[base + k * nr] = w.get(o, k);
                }
            }
        }
    }

    /** F32 weights {@code [out][in]} row-major at byte {@code wOff} (the layout of {@link GemmF32}). */
    public static PackedWeights rows(MemorySegment w, long wOff, int out, int in) {
        Operands.dims(OP, 1, out, in);
        Operands.matrix(OP, "W (weights)", w, wOff, out, in, Float.BYTES, "F32");
        return new PackedWeights(out, in, false, (o, i) -> w.get(F32, wOff + 4L * ((long) o * in + i)));
    }

    /** F32 weights {@code [in][out]} row-major ({@code y = x·W}, as ONNX stores a {@code MatMul} initializer). */
    public static PackedWeights columns(float[] w, int in, int out) {
        Operands.dims(OP, 1, out, in);
        if (w.length != (long) in * out) {
            throw new IllegalArgumentException(OP + ": " + w.length + " weights for " + in + "x" + out);
        }
        return new PackedWeights(out, in, false, (o, i) -> w[i * out + o]);
    }

    /** Int8 weights {@code [in][out]} row-major, zero point 0 (the int8 graph's {@code MatMulInteger} operand B). */
    public static PackedWeights int8Columns(MemorySegment w, int in, int out) {
        Operands.dims(OP, 1, out, in);
        if (w.byteSize() < (long) in * out) {
            throw new IllegalArgumentException(OP + ": " + w.byteSize() + " bytes of int8 weights for " + in + "x"
                    + out);
        }
        return new PackedWeights(out, in, true, (o, i) -> w.get(JAVA_BYTE, (long) i * out + o));
    }

    public int out() {
        return out;
    }

    public int in() {
        return in;
    }

    /** Whether the weights are int8 values (exact in F32), as {@link GemmPacked#u8s8} requires. */
    public boolean int8() {
        return int8;
    }

    /** {@code W[o][i]}, unpacked (for references and tests). */
    public float get(int o, int i) {
        int nr = GemmKernel.NR;
        return panels[((o / nr) * in + i) * nr + o % nr];
    }
}
