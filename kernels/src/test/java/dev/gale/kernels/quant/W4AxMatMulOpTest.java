package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link ChannelBlocks} layouts and the {@link W4AxMatMulOp} graph op over them: activations quantized from
 * contiguous ranges with zero padding, against an independent dequantize-then-multiply in double.
 */
class W4AxMatMulOpTest {
    @Test
    void layoutsSplitThePrefixAndPadTheRest() {
        ChannelBlocks narrow = ChannelBlocks.split(64, 0);
        assertEquals(1, narrow.blocks());
        assertEquals(128, narrow.width());
        assertEquals(64, narrow.length(0));
        assertTrue(narrow.padded());

        ChannelBlocks ffn = ChannelBlocks.split(172, 3, 32);
        assertEquals(1 + 6, ffn.blocks());
        assertArrayEquals(new boolean[] {true, false, false, false, false, false, false}, ffn.eightBit());
        assertEquals(3, ffn.length(0));
        assertEquals(3, ffn.start(1));
        assertEquals(32, ffn.length(1));
        assertEquals(3 + 5 * 32, ffn.start(6));
        assertEquals(172 - 3 - 5 * 32, ffn.length(6));

        ChannelBlocks wide = ChannelBlocks.split(512, 128);
        assertFalse(wide.padded());
        assertEquals(1, wide.eightBitBlocks());
        assertEquals(4, wide.blocks());

        assertThrows(ShapeMismatchException.class, () -> ChannelBlocks.split(64, 65));
        assertThrows(ShapeMismatchException.class, () -> ChannelBlocks.split(64, 1, 16));
    }

    @Test
    void a4BlocksUseAllSixteenCodesAndA8BlocksRoundAsBefore() {
        ChannelBlocks layout = ChannelBlocks.split(40, 8, 32);
        float[] x = new float[40];
        Random r = new Random(2);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        x[20] = 9f; // the A4 block's positive extreme: scale 9/−8, code −8
        try (Arena arena = Arena.ofConfined()) {
            ActivationQuant a = ActivationQuant.allocate(1, layout.width(), layout.eightBit(), arena);
            a.quantize(MemorySegment.ofArray(x), 0, 1, layout);
            assertEquals(-8, a.code(0, 128 + 20 - 8));
            assertEquals(9f / -8f, a.scale(0, 1));
            for (int c = 128 + 32; c < 256; c++) {
                assertEquals(0, a.code(0, c), "padding channel " + c);
            }
            float m8 = 0;
            for (int i = 0; i < 8; i++) {
                m8 = Math.max(m8, Math.abs(x[i]));
            }
            assertEquals(m8 / 127, a.scale(0, 0));
        }
    }

    @Test
    void theOpMatchesADequantizedProductOnTheCpuPaths() {
        for (int[] c : new int[][] {{64, 0, 128, 1}, {172, 3, 32, 5}, {256, 128, 128, 4}, {96, 96, 64, 2}}) {
            check(c[0], c[1], c[2], c[3]);
        }
    }

    private static void check(int in, int a8, int span, int tokens) {
        int rows = 37;
        int group = 32;
        ChannelBlocks layout = ChannelBlocks.split(in, a8, span);
        int width = layout.width();
        Random r = new Random(in * 31L + a8);
        float[] wf = new float[rows * in];
        float[] xf = new float[tokens * in];
        for (int i = 0; i < wf.length; i++) {
            wf[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < xf.length; i++) {
            xf[i] = (float) r.nextGaussian() * (i % in < a8 ? 20 : 1);
        }
        try (Arena arena = Arena.ofShared()) {
            MemorySegment spread = arena.allocate(4L * rows * width, 64);
            layout.spread(MemorySegment.ofArray(wf), 0, spread, 0, rows);
            W4Weights w = W4Weights.quantizeFullRange(spread, 0, rows, width, group, arena);
            MemorySegment xs = arena.allocate(4L * tokens * width, 64);
            layout.spread(MemorySegment.ofArray(xf), 0, xs, 0, tokens);
            double[] want = new double[tokens * rows];
            double[] scale = new double[tokens * rows];
            float[] wrow = new float[width];
            for (int o = 0; o < rows; o++) {
                w.dequantizeRow(o, MemorySegment.ofArray(wrow), 0);
                for (int t = 0; t < tokens; t++) {
                    for (int b = 0; b < layout.blocks(); b++) {
                        boolean eight = layout.eightBit()[b];
                        float m = 0;
                        for (int i = 0; i < 128; i++) {
                            float v = xs.getAtIndex(ValueLayout.JAVA_FLOAT, (long) t * width + b * 128 + i);
                            m = Math.abs(v) > Math.abs(m) ? v : m;
                        }
                        float s = eight ? Math.abs(m) / 127 : m / -8f;
                        for (int i = 0; i < 128; i++) {
                            float v = xs.getAtIndex(ValueLayout.JAVA_FLOAT, (long) t * width + b * 128 + i);
                            double q = s == 0 ? 0 : Math.max(eight ? -127 : -8, Math.min(eight ? 127 : 7,
                                    Math.rint(v / s)));
                            double p = (double) s * q * wrow[b * 128 + i];
                            want[t * rows + o] += p;
                            scale[t * rows + o] += Math.abs(p);
                        }
                    }
                }
            }
            W4AxMatMulOp op = new W4AxMatMulOp(w, layout);
            TaskGraph g = new TaskGraph("w4ax");
            TensorParam wp = g.tensor("w", DType.U8, rows, width / 2);
            TensorParam xp = g.tensor("x", DType.F32, tokens, in);
            TensorParam yp = g.tensor("y", DType.F32, tokens, rows);
            g.launch("mm", op, wp, xp, yp);
            for (Plan plan : List.of(g.compile(Devices.cpu()),
                    g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.REFERENCE)))) {
                try (Buffer wb = Buffers.allocate("w", DType.U8, (long) rows * width / 2);
                     Buffer x = Buffers.f32("x", xf); Buffer y = Buffers.allocate("y", DType.F32, tokens * rows);
                     Bindings bind = plan.newBindings()) {
                    wb.segment().copyFrom(w.codes());
                    bind.bind(wp, wb).bind(xp, x).bind(yp, y);
                    RunReport report = plan.run(bind);
                    assertTrue(report.tasks().get(0).detail().contains("g32"), report.toString());
                    for (int i = 0; i < tokens * rows; i++) {
                        double err = Math.abs(y.getFloat(i) - want[i]);
                        double bound = Numerics.dotBound(scale[i], width);
                        assertTrue(err <= bound, layout + " tokens " + tokens + " on " + plan.describe() + " output "
                                + i + ": " + y.getFloat(i) + " vs " + want[i] + " (bound " + bound + ")");
                    }
                }
            }
            TaskGraph bad = new TaskGraph("bad");
            assertThrows(ShapeMismatchException.class, () -> bad.launch("mm", op, bad.tensor("w", DType.U8, rows,
                    width / 2), bad.tensor("x", DType.F32, 1, width + 1), bad.tensor("y", DType.F32, 1, rows)));
        }
    }

    /** One token with the packed decode weights: the row-major op's bits, and the run report names the kernel. */
    @Test
    void thePackedDecodeGemvAgreesWithTheRowMajorKernel() {
        int rows = 45;
        ChannelBlocks layout = ChannelBlocks.split(300, 40, 128);
        int width = layout.width();
        Random r = new Random(5);
        float[] xf = new float[300];
        for (int i = 0; i < xf.length; i++) {
            xf[i] = (float) r.nextGaussian() * (i < 40 ? 20 : 1);
        }
        try (Arena arena = Arena.ofShared()) {
            MemorySegment wf = arena.allocate(4L * rows * width, 64);
            for (long i = 0; i < (long) rows * width; i++) {
                wf.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            }
            W4Weights w = W4Weights.quantizeFullRange(wf, 0, rows, width, 128, arena);
            float[][] out = new float[2][];
            for (int packed = 0; packed < 2; packed++) {
                W4AxMatMulOp op = packed == 0 ? new W4AxMatMulOp(w, layout)
                        : new W4AxMatMulOp(w, W4Packed.pack(w, arena), layout);
                TaskGraph g = new TaskGraph("w4ax decode");
                TensorParam wp = g.tensor("w", DType.U8, rows, width / 2);
                TensorParam xp = g.tensor("x", DType.F32, 1, 300);
                TensorParam yp = g.tensor("y", DType.F32, 1, rows);
                g.launch("mm", op, wp, xp, yp);
                Plan plan = g.compile(Devices.cpu());
                try (Buffer wb = Buffers.allocate("w", DType.U8, (long) rows * width / 2);
                     Buffer x = Buffers.f32("x", xf); Buffer y = Buffers.allocate("y", DType.F32, rows);
                     Bindings bind = plan.newBindings()) {
                    wb.segment().copyFrom(w.codes());
                    bind.bind(wp, wb).bind(xp, x).bind(yp, y);
                    RunReport report = plan.run(bind);
                    if (W4AxMatmul.VECTOR_OK) {
                        assertEquals(packed == 1, report.tasks().get(0).detail().contains("packed 4-row GEMV"),
                                report.toString());
                    }
                    out[packed] = new float[rows];
                    for (int i = 0; i < rows; i++) {
                        out[packed][i] = y.getFloat(i);
                    }
                }
            }
            // Bit-equal once both kernels run C2 code; a first call in the interpreter or C1 sums the lanes in another
            // order (reduceLanes), so each row is held to the suite's dot-product bound around the row-major result.
            ActivationQuant a = ActivationQuant.allocate(1, width, layout.eightBit(), arena);
            a.quantize(MemorySegment.ofArray(xf), 0, 1, layout);
            double rel = Math.max(Numerics.F32_REL, (width / 16.0 + 16) * Numerics.U_F32);
            for (int i = 0; i < rows; i++) {
                assertEquals(out[0][i], out[1][i], rel * W4AxMatmul.sumAbs(w, a, 0, i), "row " + i);
            }
        }
    }

    /** A shared input is found only for the tensor and token count it was filled from (else the reader quantizes). */
    @Test
    void aSharedInputIsFoundOnlyForItsSource() {
        ChannelBlocks layout = ChannelBlocks.split(256, 0);
        QuantizedInput in = new QuantizedInput(layout);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment h = arena.allocate(4L * 2 * 256, 64);
            MemorySegment other = arena.allocate(4L * 2 * 256, 64);
            assertEquals(null, in.filledFrom(h, 1), "never filled");
            ActivationQuant a = in.fill(h, 1);
            assertTrue(in.filledFrom(h, 1) == a);
            assertEquals(null, in.filledFrom(other, 1));
            assertEquals(null, in.filledFrom(h, 2));
            assertTrue(QuantizedInput.sameQuantization(layout, ChannelBlocks.split(256, 0)));
            assertFalse(QuantizedInput.sameQuantization(layout, ChannelBlocks.split(256, 128)));
            assertFalse(QuantizedInput.sameQuantization(layout, layout.withActivationClip(0.9f)));
        }
    }
}
