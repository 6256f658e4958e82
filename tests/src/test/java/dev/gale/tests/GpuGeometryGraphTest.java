package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.emulator.Emulator;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.core.kernel.KernelRunner;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.gemm.MatMulOp;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.kernels.quant.QuantMatMulOp;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * On a GPU the one-token matmul ops launch a work group per row ({@code GemvGeometry}). CI has no GPU, so a device
 * that says it is one runs the launches under the grid emulator: the ops must pick the group kernels, and the
 * results must stay within the dot-product bound of an independent double-precision product. The plan names the
 * kernel, as the run report does.
 */
class GpuGeometryGraphTest {
    private static final int ROWS = 37;
    private static final int IN = 96;

    /** A GPU in name and capabilities whose kernels run on the emulator; it records each kernel launched. */
    private static final class EmulatedGpu implements Device {
        final List<String> launched = new ArrayList<>();
        private final KernelRunner emulator = Emulator.parallel(4);
        private final Capabilities caps = new Capabilities(DeviceType.GPU, 4, 1024, 1L << 30, 48 << 10, 1024, true,
                false, new long[3], Map.of());

        @Override
        public String id() {
            return "gpu:emulated";
        }

        @Override
        public String name() {
            return "emulated GPU";
        }

        @Override
        public String backend() {
            return "emulator";
        }

        @Override
        public Capabilities capabilities() {
            return caps;
        }

        @Override
        public KernelRunner kernelRunner() {
            return (owner, method, grid, args) -> {
                launched.add(method);
                return emulator.run(owner, method, grid, args);
            };
        }
    }

    @Test
    void f32AndF16GemvsTakeAGroupPerRow() {
        for (DType wt : new DType[] {DType.F32, DType.F16}) {
            Random r = new Random(wt.ordinal());
            float[] w = gaussian(r, ROWS * IN);
            float[] x = gaussian(r, IN);
            if (wt == DType.F16) {
                for (int i = 0; i < w.length; i++) {
                    w[i] = Float.float16ToFloat(Float.floatToFloat16(w[i]));
                }
            }
            try (Buffer wb = Buffers.allocate("w", wt, (long) ROWS * IN)) {
                for (int i = 0; i < w.length; i++) {
                    wb.setFloat(i, w[i]);
                }
                EmulatedGpu gpu = new EmulatedGpu();
                TaskGraph g = new TaskGraph("gemv");
                TensorParam wp = g.tensor("w", wt, ROWS, IN);
                TensorParam xp = g.tensor("x", DType.F32, 1, IN);
                TensorParam yp = g.tensor("y", DType.F32, 1, ROWS);
                g.launch("mm", MatMulOp.INSTANCE, wp, xp, yp);
                Plan plan = g.compile(gpu);
                run(plan, wp, wb, xp, yp, w, x);
                String kernel = wt == DType.F16 ? "gemvF16Group" : "gemvF32Group";
                assertEquals(List.of(kernel), gpu.launched);
                assertTrue(plan.describe().contains(kernel + " (256 items per row)"), plan.describe());
            }
        }
    }

    @Test
    void q8AndQ4GemvsTakeAGroupPerRowOnSplitBlocks() {
        for (boolean q4 : new boolean[] {false, true}) {
            Random r = new Random(q4 ? 3 : 5);
            float[] wf = gaussian(r, ROWS * IN);
            float[] x = gaussian(r, IN);
            long rowBytes = q4 ? Q4_0.rowBytes(IN) : Q8_0.rowBytes(IN);
            try (Arena arena = Arena.ofShared(); Buffer src = Buffers.f32("src", wf);
                 Buffer w = Buffers.allocate("wq", q4 ? DType.U8 : DType.I8, ROWS * rowBytes);
                 Buffer deq = Buffers.allocate("deq", DType.F32, (long) ROWS * IN)) {
                for (int row = 0; row < ROWS; row++) {
                    if (q4) {
                        Q4_0.quantize(src.segment(), 4L * row * IN, w.segment(), row * rowBytes, IN);
                        Q4_0.dequantize(w.segment(), row * rowBytes, deq.segment(), 4L * row * IN, IN);
                    } else {
                        Q8_0.quantize(src.segment(), 4L * row * IN, w.segment(), row * rowBytes, IN);
                        Q8_0.dequantize(w.segment(), row * rowBytes, deq.segment(), 4L * row * IN, IN);
                    }
                }
                QuantMatMulOp op = q4 ? QuantMatMulOp.q4_0(w.segment(), 0, ROWS, IN, arena)
                        : QuantMatMulOp.q8_0(w.segment(), 0, ROWS, IN, arena);
                EmulatedGpu gpu = new EmulatedGpu();
                TaskGraph g = new TaskGraph("quant-gemv");
                TensorParam wp = g.tensor("w", op.blockType(), ROWS, rowBytes);
                TensorParam xp = g.tensor("x", DType.F32, 1, IN);
                TensorParam yp = g.tensor("y", DType.F32, 1, ROWS);
                g.launch("mm", op, wp, xp, yp);
                Plan plan = g.compile(gpu);
                run(plan, wp, w, xp, yp, deq.toFloatArray(), x);
                assertEquals(List.of("gemvSplitGroup"), gpu.launched);
                assertTrue(plan.describe().contains("gemvSplitGroup (256 items per row)"), plan.describe());
            }
        }
    }

    private static void run(Plan plan, TensorParam wp, Buffer w, TensorParam xp, TensorParam yp, float[] wf,
            float[] xf) {
        try (Buffer x = Buffers.f32("x", xf); Buffer y = Buffers.allocate("y", DType.F32, ROWS);
             Bindings b = plan.newBindings()) {
            b.bind(wp, w).bind(xp, x).bind(yp, y);
            plan.run(b);
            for (int o = 0; o < ROWS; o++) {
                double want = 0;
                double scale = 0;
                for (int i = 0; i < IN; i++) {
                    double p = (double) wf[o * IN + i] * xf[i];
                    want += p;
                    scale += Math.abs(p);
                }
                double err = Math.abs(y.getFloat(o) - want);
                assertTrue(err <= Numerics.dotBound(scale, IN), plan.describe() + " row " + o + ": " + y.getFloat(o)
                        + " vs " + want);
            }
        }
    }

    private static float[] gaussian(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }
}
