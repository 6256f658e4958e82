package dev.gale.tests;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.activation.BiasAdd;
import dev.gale.kernels.activation.BiasKernels;
import dev.gale.kernels.quant.DynamicQuantKernels;
import dev.gale.kernels.quant.DynamicQuantU8;
import dev.gale.kernels.quant.GemmU8S8;
import dev.gale.kernels.quant.GemmU8S8Op;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The dynamic uint8 × int8 scheme of ONNX int8 encoders ({@link DynamicQuantU8}, {@link GemmU8S8}) and the linear
 * layers' {@link BiasAdd}, in the cross-device matrix. All three are exact operations (min/max, one division,
 * round-half-even, integer sums, a fixed three-rounding epilogue, one add), so every target must give the reference's
 * bits.
 */
public final class DynamicInt8Ops {
    private static final int GROUP = Ops.GROUP;

    private DynamicInt8Ops() {
    }

    /** The three checks, in matrix order. */
    public static List<OpCheck> all() {
        return List.of(quantize(), gemm(), biasAdd());
    }

    /** Shapes {batch, seq, cols} with per-sentence lengths (0, 1, partial and full), values on half-steps too. */
    static OpCheck quantize() {
        int[][] shapes = {{1, 1, 1}, {3, 7, 33}, {2, 5, 384}, {4, 3, 65}};
        int[][] lengths = {{1}, {7, 3, 0}, {5, 1}, {3, 2, 1, 3}};
        return new OpCheck("dynamic_quant_u8", "exact: q bytes, scale and zero point bits", (t, e) -> {
            SplittableRandom r = new SplittableRandom(81);
            for (int s = 0; s < shapes.length; s++) {
                int batch = shapes[s][0];
                int seq = shapes[s][1];
                int cols = shapes[s][2];
                int n = batch * seq * cols;
                float[] xs = new float[n];
                for (int i = 0; i < n; i++) {
                    // Every other sentence on a grid of hundredths: quotients land on and next to ties.
                    xs[i] = (i / (seq * cols)) % 2 == 0 ? (float) r.nextDouble(-6, 9)
                            : (r.nextInt(-150, 101)) * 0.01f;
                }
                try (Buffer x = Buffers.f32("x", xs); Buffer len = Buffers.allocate("lengths", DType.I32, batch);
                        Buffer qWant = Buffers.allocate("q.want", DType.U8, n);
                        Buffer qGot = Buffers.allocate("q.got", DType.U8, n);
                        Buffer pWant = Buffers.allocate("p.want", DType.F32, 2L * batch);
                        Buffer pGot = Buffers.allocate("p.got", DType.F32, 2L * batch)) {
                    for (int b = 0; b < batch; b++) {
                        len.setInt(b, lengths[s][b]);
                    }
                    DynamicQuantU8.reference(x.segment(), len.segment(), qWant.segment(), pWant.segment(), batch, seq,
                            cols);
                    if (t.vectorApi()) {
                        DynamicQuantU8.applyParallel(x.segment(), len.segment(), qGot.segment(), pGot.segment(), batch,
                                seq, cols);
                    } else {
                        t.kernel(DynamicQuantKernels.class, "dynamicQuantParams", Grid.of1(batch * GROUP, GROUP), x,
                                len, pGot, seq, cols, GROUP);
                        t.kernel(DynamicQuantKernels.class, "dynamicQuantize", Ops.elementGrid(n), x, pGot, qGot,
                                seq * cols, n);
                    }
                    String where = "dynamic_quant_u8 " + batch + "x" + seq + "x" + cols;
                    for (int i = 0; i < 2 * batch; i++) {
                        e.exact(where + " param " + i, Float.floatToRawIntBits(pGot.getFloat(i)),
                                Float.floatToRawIntBits(pWant.getFloat(i)));
                    }
                    for (int i = 0; i < n; i++) {
                        e.exact(where + " q[" + i + "]", qGot.segment().get(JAVA_BYTE, i),
                                qWant.segment().get(JAVA_BYTE, i));
                    }
                }
            }
        });
    }

    /** Shapes {rows, seq, in, out}: rows not a multiple of 4 or of seq, out not a multiple of the vector block. */
    static OpCheck gemm() {
        int[][] shapes = {{1, 1, 1, 1}, {7, 7, 33, 5}, {9, 3, 384, 70}, {16, 8, 1536, 64}, {5, 2, 100, 97}};
        return new OpCheck("gemm_u8s8", "exact: output bits", (t, e) -> {
            SplittableRandom r = new SplittableRandom(82);
            for (int[] s : shapes) {
                int rows = s[0];
                int seq = s[1];
                int in = s[2];
                int out = s[3];
                int batch = (rows + seq - 1) / seq;
                try (Buffer q = Buffers.allocate("q", DType.U8, (long) rows * in);
                        Buffer p = Buffers.allocate("params", DType.F32, 2L * batch);
                        Buffer w = Buffers.allocate("w", DType.I8, (long) in * out);
                        Buffer ws = Buffers.allocate("wScale", DType.F32, out);
                        Buffer bias = Buffers.allocate("bias", DType.F32, out);
                        Buffer want = Buffers.allocate("want", DType.F32, (long) rows * out);
                        Buffer got = Buffers.allocate("got", DType.F32, (long) rows * out)) {
                    for (long i = 0; i < (long) rows * in; i++) {
                        q.segment().set(JAVA_BYTE, i, (byte) r.nextInt(256));
                    }
                    for (long i = 0; i < (long) in * out; i++) {
                        // Full int8 range, extremes included (the saturating-pair trap of u8·s8 SIMD products).
                        w.segment().set(JAVA_BYTE, i, (byte) (i % 17 == 0 ? -128 : r.nextInt(-128, 128)));
                    }
                    for (int b = 0; b < batch; b++) {
                        p.setFloat(2L * b, (float) r.nextDouble(1e-3, 0.1));
                        p.setFloat(2L * b + 1, r.nextInt(256));
                    }
                    for (int c = 0; c < out; c++) {
                        ws.setFloat(c, (float) r.nextDouble(1e-4, 1e-2));
                        bias.setFloat(c, (float) r.nextDouble(-1, 1));
                    }
                    GemmU8S8.reference(q.segment(), p.segment(), w.segment(), ws.segment(), bias.segment(),
                            want.segment(), rows, seq, in, out);
                    if (t.vectorApi()) {
                        GemmU8S8.applyParallel(q.segment(), p.segment(), w.segment(), ws.segment(), bias.segment(),
                                got.segment(), rows, seq, in, out);
                    } else {
                        t.kernel(DynamicQuantKernels.class, "gemmU8S8", GemmU8S8Op.grid(rows, out), q, p, w, ws, bias,
                                got, rows, seq, in, out);
                    }
                    for (int i = 0; i < rows * out; i++) {
                        e.exact("gemm_u8s8 " + rows + "x" + in + "x" + out + " [" + i / out + "][" + i % out + "]",
                                Float.floatToRawIntBits(got.getFloat(i)), Float.floatToRawIntBits(want.getFloat(i)));
                    }
                }
            }
        });
    }

    static OpCheck biasAdd() {
        int[][] shapes = {{1, 1}, {7, 33}, {3, 384}, {5, 1537}};
        return new OpCheck("bias_add", "exact: one correctly rounded add", (t, e) -> {
            SplittableRandom r = new SplittableRandom(83);
            for (int[] s : shapes) {
                int rows = s[0];
                int cols = s[1];
                float[] ys = Ops.random(r, rows * cols, 8);
                float[] bs = Ops.random(r, cols, 2);
                try (Buffer want = Buffers.f32("want", ys); Buffer got = Buffers.f32("got", ys);
                        Buffer b = Buffers.f32("bias", bs)) {
                    BiasAdd.reference(want.segment(), 0, b.segment(), 0, rows, cols);
                    if (t.vectorApi()) {
                        BiasAdd.applyParallel(got.segment(), 0, b.segment(), 0, rows, cols);
                    } else {
                        t.kernel(BiasKernels.class, "biasAdd", Ops.elementGrid(rows * cols), got, b, cols,
                                rows * cols);
                    }
                    for (int i = 0; i < rows * cols; i++) {
                        e.exact("bias_add " + rows + "x" + cols + " i=" + i, Float.floatToRawIntBits(got.getFloat(i)),
                                Float.floatToRawIntBits(want.getFloat(i)));
                    }
                }
            }
        });
    }
}
