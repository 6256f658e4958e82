package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.emulator.SeparateMemoryDevice;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.core.graph.TransferMode;
import dev.gale.kernels.activation.ResidualAddOp;
import dev.gale.kernels.sampling.ArgmaxOp;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * A graph's resident tensors on a device with memory of its own ({@link SeparateMemoryDevice}): kernel results stay
 * on the device between launches and runs; a host task between two launches sees the first's output and its writes
 * reach the second; the transfers move a tensor when their mode says and only then; {@link Bindings#toHost} reads a
 * result; closing the bindings frees every device copy and brings the device's data home.
 */
class ResidentGraphTest {
    static final int N = 37;

    @Test
    void residentTensorsMoveOnlyWhenTheGraphSays() {
        SeparateMemoryDevice d = new SeparateMemoryDevice();
        TaskGraph g = new TaskGraph("resident");
        TensorParam x = g.tensor("x", DType.F32, N);
        TensorParam y = g.tensor("y", DType.F32, N);
        TensorParam z = g.tensor("z", DType.F32, N);
        TensorParam out = g.tensor("out", DType.F32, N);
        g.transferToDevice(x, TransferMode.ON_DEMAND)
                .launch("double", ResidualAddOp.INSTANCE, x, x, y)
                .host("host doubles y into z", ctx -> {
                    MemorySegment ys = ctx.segment(0);
                    MemorySegment zs = ctx.segment(1);
                    for (int i = 0; i < N; i++) {
                        zs.setAtIndex(ValueLayout.JAVA_FLOAT, i, 2 * ys.getAtIndex(ValueLayout.JAVA_FLOAT, i));
                    }
                }, y, z)
                .launch("sum", ResidualAddOp.INSTANCE, z, y, out)
                .transferToHost(y, TransferMode.EVERY_RUN)
                .resident(x, y, z, out);
        Plan plan = g.compile(d);
        assertTrue(plan.describe().contains("resident on emulator:separate: x, y, z, out"), plan.describe());
        float[] first = new float[N];
        float[] second = new float[N];
        for (int i = 0; i < N; i++) {
            first[i] = i - 5;
            second[i] = 100 + i;
        }
        try (Buffer xb = Buffers.f32("x", first); Buffer yb = Buffers.allocate("y", DType.F32, N);
             Buffer zb = Buffers.allocate("z", DType.F32, N); Buffer ob = Buffers.allocate("out", DType.F32, N)) {
            try (Bindings b = plan.newBindings()) {
                b.bind(x, xb).bind(y, yb).bind(z, zb).bind(out, ob);
                RunReport r = plan.run(b);
                assertEquals(d.id(), r.task("double").device(), r.toString());
                // 2x, then 4x on the host, then 6x on the device.
                assertArrayEquals(times(first, 6), b.toHost(out).toFloatArray());
                assertArrayEquals(times(first, 2), yb.toFloatArray(), "y comes home every run");
                ob.copyFrom(new float[N]);
                plan.run(b);
                assertArrayEquals(new float[N], ob.toFloatArray(), "out stays on the device until asked for");
                xb.copyFrom(second);
                plan.run(b);
                assertArrayEquals(times(first, 6), b.toHost(out).toFloatArray(),
                        "a host write the device is not told of is not seen");
                b.requestTransfer(x);
                plan.run(b);
                assertArrayEquals(times(second, 6), b.toHost(out).toFloatArray(), "an on-demand transfer is");
                xb.copyFrom(first);
                b.toDevice(x);
                plan.run(b);
                assertArrayEquals(times(first, 6), b.toHost(out).toFloatArray(), "and so is Bindings.toDevice");
                ob.copyFrom(new float[N]);
                plan.run(b);
                assertTrue(d.residentMemory().regionCount() > 0);
            }
            assertEquals(0, d.residentMemory().regionCount(), "closed bindings leave nothing on the device");
            assertArrayEquals(times(first, 6), ob.toFloatArray(), "and bring the device's data home");
            assertFalse(d.residentMemory().holds(ob));
        }
    }

    /**
     * An op the device cannot run, placed on the CPU by an explicit fallback, reads a resident tensor a kernel just
     * wrote: the plan lends it to the host around that task, so the CPU sees the kernel's result.
     */
    @Test
    void aTaskPlacedOnTheCpuSeesWhatTheDeviceWrote() {
        SeparateMemoryDevice d = new SeparateMemoryDevice();
        TaskGraph g = new TaskGraph("fallback");
        TensorParam x = g.tensor("x", DType.F32, 2, N);
        TensorParam y = g.tensor("y", DType.F32, 2, N);
        TensorParam ids = g.tensor("ids", DType.I32, 2);
        // Argmax over two rows has no device kernel (one row has): it falls back to the CPU.
        g.launch("double", ResidualAddOp.INSTANCE, x, x, y).launch("argmax", ArgmaxOp.INSTANCE, y, ids).resident(x, y);
        Plan plan = g.compile(d, TaskGraph.PlanOptions.withFallback());
        float[] v = new float[2 * N];
        v[7] = 3f;
        v[N + 30] = 5f;
        try (Buffer xb = Buffers.f32("x", v); Buffer yb = Buffers.allocate("y", DType.F32, 2L * N);
             Buffer ib = Buffers.allocate("ids", DType.I32, 2); Bindings b = plan.newBindings()) {
            b.bind(x, xb).bind(y, yb).bind(ids, ib);
            RunReport r = plan.run(b);
            assertEquals(d.id(), r.task("double").device(), r.toString());
            assertEquals("cpu", r.task("argmax").device(), r.toString());
            assertEquals(7, ib.getInt(0));
            assertEquals(30, ib.getInt(1));
        }
    }

    private static float[] times(float[] v, float k) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = k * v[i];
        }
        return out;
    }
}
