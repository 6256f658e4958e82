package dev.gale.kernels.norm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.Op;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.ChannelBlocks;
import dev.gale.kernels.quant.QuantizedInput;
import dev.gale.kernels.quant.W4AxMatMulOp;
import dev.gale.kernels.quant.W4Packed;
import dev.gale.kernels.quant.W4Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * RMSNorm fused with the activation quantizer: bit-identical to the unfused composition on both paths (one token,
 * and enough tokens to split over the pool), and in a graph, matmuls sharing the fused op's quantization give the
 * bits of matmuls that each quantize the plain RMSNorm's output.
 */
class RmsNormQuantTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private static float[] gaussian(Random r, int n, float outlierEvery) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * (i % outlierEvery == 0 ? 30 : 1);
        }
        return v;
    }

    @Test
    void fusedIsTheUnfusedCompositionBitForBit() {
        Random r = new Random(3);
        for (int[] c : new int[][] {{300, 40, 64, 1}, {256, 0, 128, 1}, {172, 3, 32, 37}, {512, 128, 128, 20}}) {
            int dim = c[0];
            int tokens = c[3];
            ChannelBlocks layout = ChannelBlocks.split(dim, c[1], c[2]);
            float eps = 1e-5f;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment x = arena.allocate(4L * tokens * dim, 64);
                x.copyFrom(MemorySegment.ofArray(gaussian(r, tokens * dim, 17)));
                MemorySegment w = arena.allocate(4L * dim, 64);
                w.copyFrom(MemorySegment.ofArray(gaussian(r, dim, 1000)));
                for (boolean reference : new boolean[] {false, true}) {
                    MemorySegment h1 = arena.allocate(4L * tokens * dim, 64);
                    MemorySegment h2 = arena.allocate(4L * tokens * dim, 64);
                    ActivationQuant fused = ActivationQuant.allocate(tokens, layout.width(), layout.eightBit(), arena);
                    ActivationQuant plain = ActivationQuant.allocate(tokens, layout.width(), layout.eightBit(), arena);
                    if (reference) {
                        RmsNormQuant.reference(x, 0, w, 0, h1, 0, tokens, eps, layout, fused);
                        RmsNorm.reference(x, 0, w, 0, h2, 0, tokens, dim, eps);
                        plain.quantizeReference(h2, 0, tokens, layout);
                    } else {
                        RmsNormQuant.applyParallel(x, 0, w, 0, h1, 0, tokens, eps, layout, fused);
                        RmsNorm.applyParallel(x, 0, w, 0, h2, 0, tokens, dim, eps);
                        plain.quantize(h2, 0, tokens, layout);
                    }
                    String what = layout + " tokens " + tokens + (reference ? " reference" : " vector");
                    assertEquals(-1L, h1.mismatch(h2), what + ": normalised rows");
                    assertEquals(tokens, fused.tokens(), what);
                    assertEquals(-1L, fused.codes().asSlice(0, (long) tokens * layout.width())
                            .mismatch(plain.codes().asSlice(0, (long) tokens * layout.width())), what + ": codes");
                    assertEquals(-1L, fused.scales().asSlice(0, 4L * tokens * layout.blocks())
                            .mismatch(plain.scales().asSlice(0, 4L * tokens * layout.blocks())), what + ": scales");
                }
            }
        }
    }

    /** RMSNorm, then wq and wk (one shared quantization), in place of RMSNorm and two self-quantizing matmuls. */
    @Test
    void matmulsReadingTheFusedQuantizationGiveTheUnfusedBits() {
        int dim = 384;
        int rows = 40;
        ChannelBlocks layout = ChannelBlocks.split(dim, 24, 128);
        Random r = new Random(9);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment wf = arena.allocate(4L * rows * layout.width(), 64);
            wf.copyFrom(MemorySegment.ofArray(gaussian(r, rows * layout.width(), 1000)));
            W4Weights wq = W4Weights.quantizeFullRange(wf, 0, rows, layout.width(), 128, arena);
            W4Weights wk = W4Weights.quantizeFullRange(wf, 0, rows / 2, layout.width(), 128, arena);
            W4Packed pq = W4Packed.pack(wq, arena);
            W4Packed pk = W4Packed.pack(wk, arena);
            float[] xf = gaussian(r, 3 * dim, 23);
            float[] nf = gaussian(r, dim, 1000);
            for (int tokens : new int[] {1, 3}) {
                for (ImplPath path : new ImplPath[] {ImplPath.VECTOR_API, ImplPath.REFERENCE}) {
                    float[][] out = new float[2][];
                    String report = "";
                    for (int fused = 0; fused < 2; fused++) {
                        QuantizedInput in = fused == 1 ? new QuantizedInput(layout) : null;
                        Op norm = fused == 1 ? new RmsNormQuantOp(1e-5f, in, 2) : new RmsNormOp(1e-5f);
                        TaskGraph g = new TaskGraph("fused " + fused);
                        TensorParam x = g.tensor("x", DType.F32, tokens, dim);
                        TensorParam nw = g.tensor("norm", DType.F32, dim);
                        TensorParam h = g.tensor("h", DType.F32, tokens, dim);
                        TensorParam wqp = g.tensor("wq", DType.U8, rows, layout.width() / 2);
                        TensorParam wkp = g.tensor("wk", DType.U8, rows / 2, layout.width() / 2);
                        TensorParam yq = g.tensor("y.q", DType.F32, tokens, rows);
                        TensorParam yk = g.tensor("y.k", DType.F32, tokens, rows / 2);
                        g.launch("norm", norm, x, nw, h)
                                .launch("wq", new W4AxMatMulOp(wq, pq, layout, in), wqp, h, yq)
                                .launch("wk", new W4AxMatMulOp(wk, pk, layout, in), wkp, h, yk);
                        Plan plan = g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(path));
                        try (Buffer xb = Buffers.f32("x", java.util.Arrays.copyOf(xf, tokens * dim));
                             Buffer nb = Buffers.f32("norm", nf);
                             Buffer hb = Buffers.allocate("h", DType.F32, (long) tokens * dim);
                             Buffer qb = Buffers.allocate("wq", DType.U8, (long) rows * layout.width() / 2);
                             Buffer kb = Buffers.allocate("wk", DType.U8, (long) rows / 2 * layout.width() / 2);
                             Buffer yqb = Buffers.allocate("y.q", DType.F32, (long) tokens * rows);
                             Buffer ykb = Buffers.allocate("y.k", DType.F32, (long) tokens * (rows / 2));
                             Bindings bind = plan.newBindings()) {
                            qb.segment().copyFrom(wq.codes());
                            kb.segment().copyFrom(wk.codes());
                            bind.bind(x, xb).bind(nw, nb).bind(h, hb).bind(wqp, qb).bind(wkp, kb).bind(yq, yqb)
                                    .bind(yk, ykb);
                            RunReport rep = plan.run(bind);
                            report = rep.toString();
                            out[fused] = new float[tokens * (rows + rows / 2)];
                            for (int i = 0; i < tokens * rows; i++) {
                                out[fused][i] = yqb.getFloat(i);
                            }
                            for (int i = 0; i < tokens * (rows / 2); i++) {
                                out[fused][tokens * rows + i] = ykb.getFloat(i);
                            }
                        }
                    }
                    assertTrue(report.contains("RMSNorm fused with the A4/A8 activation quantizer"), report);
                    assertArrayEquals(out[0], out[1], path + " tokens " + tokens);
                }
            }
        }
    }
}
