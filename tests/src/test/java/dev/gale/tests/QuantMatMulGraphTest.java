package dev.gale.tests;

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
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.kernels.quant.Q8_0Blocks;
import dev.gale.kernels.quant.Q8_0Lanes;
import dev.gale.kernels.quant.QuantMatMulOp;
import dev.gale.opencl.OpenClDeviceProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The quantized matmul graph op on every backend: its Vector API path (packed layout), its reference and its device
 * kernels (block layout) against an independent dequantize-then-multiply in double, for decode (1 token) and prefill
 * (several tokens; 53 is past the CPU path's switch to the GEMM over dequantized panels, which the report names).
 */
class QuantMatMulGraphTest {
    private static final int ROWS = 37;
    private static final int IN = 96;

    @Test
    void q8AndQ4MatmulsAgreeOnEveryBackend() {
        // Q8_0 and Q4_0, each on F32 activations and on Q8 ones (the row lanes: the decode path wherever the vector
        // kernels run)
        boolean[][] variants = {{false, false}, {false, true}, {true, false}, {true, true}};
        for (boolean[] v : variants) {
            // 24: past the row-lane ops' switch to the GEMM (20), before the F32-activation ops' (48)
            for (int tokens : new int[] {1, 5, 24, 53}) {
                check(v[0], v[1], tokens);
            }
        }
    }

    private static void check(boolean q4, boolean q8Activations, int tokens) {
        Random r = new Random(q4 ? 11 : 13);
        float[] wf = new float[ROWS * IN];
        float[] xf = new float[tokens * IN];
        for (int i = 0; i < wf.length; i++) {
            wf[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < xf.length; i++) {
            xf[i] = (float) r.nextGaussian();
        }
        long rowBytes = q4 ? Q4_0.rowBytes(IN) : Q8_0.rowBytes(IN);
        try (Arena arena = Arena.ofShared(); Buffer wsrc = Buffers.f32("w", wf);
             Buffer w = Buffers.allocate("wq", q4 ? DType.U8 : DType.I8, ROWS * rowBytes); Buffer deq = Buffers.allocate("deq",
                     DType.F32, (long) ROWS * IN)) {
            for (int row = 0; row < ROWS; row++) {
                if (q4) {
                    Q4_0.quantize(wsrc.segment(), 4L * row * IN, w.segment(), row * rowBytes, IN);
                    Q4_0.dequantize(w.segment(), row * rowBytes, deq.segment(), 4L * row * IN, IN);
                } else {
                    Q8_0.quantize(wsrc.segment(), 4L * row * IN, w.segment(), row * rowBytes, IN);
                    Q8_0.dequantize(w.segment(), row * rowBytes, deq.segment(), 4L * row * IN, IN);
                }
            }
            MemorySegment ws = w.segment();
            QuantMatMulOp op = !q4 ? (q8Activations ? QuantMatMulOp.q8_0(Q8_0Lanes.pack(ws, 0, ROWS, IN, arena))
                    : QuantMatMulOp.q8_0(Q8_0Blocks.copy(ws, 0, ROWS, IN, arena)))
                    : q8Activations ? QuantMatMulOp.q4_0(Q4_0Lanes.pack(ws, 0, ROWS, IN, arena))
                    : QuantMatMulOp.q4_0(Q4_0Packed.pack(ws, 0, ROWS, IN, arena));
            float[] dq = deq.toFloatArray();
            double[] want = new double[tokens * ROWS];
            double[] scale = new double[tokens * ROWS];
            for (int t = 0; t < tokens; t++) {
                for (int o = 0; o < ROWS; o++) {
                    for (int i = 0; i < IN; i++) {
                        double p = (double) dq[o * IN + i] * xf[t * IN + i];
                        want[t * ROWS + o] += p;
                        scale[t * ROWS + o] += Math.abs(p);
                    }
                }
            }
            TaskGraph g = new TaskGraph("quant-matmul");
            TensorParam wp = g.tensor("w", op.blockType(), ROWS, rowBytes);
            TensorParam xp = g.tensor("x", DType.F32, tokens, IN);
            TensorParam yp = g.tensor("y", DType.F32, tokens, ROWS);
            g.launch("mm", op, wp, xp, yp);
            List<Plan> plans = new ArrayList<>();
            plans.add(g.compile(Devices.cpu()));
            plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.REFERENCE)));
            plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.EMULATOR)));
            new OpenClDeviceProvider().devices().forEach(d -> plans.add(g.compile(d)));
            for (Plan plan : plans) {
                try (Buffer x = Buffers.f32("x", xf); Buffer y = Buffers.allocate("y", DType.F32, tokens * ROWS);
                     Bindings b = plan.newBindings()) {
                    b.bind(wp, w).bind(xp, x).bind(yp, y);
                    RunReport report = plan.run(b);
                    assertFalse(report.tasks().get(0).detail().startsWith("fallback"), report.toString());
                    if (report.tasks().get(0).path() == ImplPath.VECTOR_API) {
                        assertTrue(report.tasks().get(0).detail().contains(tokens >= op.gemmTokens() ? "GEMM"
                                : "GEMV"), report.toString());
                        assertEquals(q8Activations && tokens < op.gemmTokens(),
                                report.tasks().get(0).detail().contains("Q8"),
                                "the report names the activations' format: " + report);
                    }
                    boolean q8 = report.tasks().get(0).path() == ImplPath.VECTOR_API && op.quantizesActivations(tokens);
                    for (int i = 0; i < tokens * ROWS; i++) {
                        double err = Math.abs(y.getFloat(i) - want[i]);
                        double bound = Numerics.dotBound(scale[i], IN)
                                + (q8 ? q8Rounding(dq, xf, i / ROWS, i % ROWS) : 0);
                        assertTrue(err <= bound, op.name() + " tokens=" + tokens + " on " + plan.describe()
                                + " output " + i + ": " + y.getFloat(i) + " vs " + want[i] + " (bound " + bound + ")");
                    }
                }
            }
            assertEquals(q8Activations, op.quantizesActivations(1), "the decode path quantizes its activations");
            TaskGraph bad = new TaskGraph("bad");
            assertThrows(ShapeMismatchException.class, () -> bad.launch("mm", op,
                    bad.tensor("w", op.blockType(), ROWS + 1, rowBytes), bad.tensor("x", DType.F32, 1, IN),
                    bad.tensor("y", DType.F32, 1, ROWS + 1)));
        }
    }

    /**
     * What quantizing token {@code t}'s activations to Q8 per block of 32 can move output {@code o}: half a step
     * ({@code amax/127}) per element times the weight, 1 % for the step's own rounding.
     */
    private static double q8Rounding(float[] dq, float[] xf, int t, int o) {
        double err = 0;
        for (int b = 0; b < IN / 32; b++) {
            double amax = 0;
            double w = 0;
            for (int i = 32 * b; i < 32 * b + 32; i++) {
                amax = Math.max(amax, Math.abs(xf[t * IN + i]));
                w += Math.abs(dq[o * IN + i]);
            }
            err += amax / 127 / 2 * 1.01 * w;
        }
        return err;
    }
}
