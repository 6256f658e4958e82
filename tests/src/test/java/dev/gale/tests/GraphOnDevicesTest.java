package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.UnsupportedTaskException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.IntScalar;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.activation.ResidualAddOp;
import dev.gale.kernels.activation.SoftmaxOp;
import dev.gale.kernels.activation.SwiGluOp;
import dev.gale.kernels.gemm.MatMulOp;
import dev.gale.kernels.norm.RmsNormOp;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeOp;
import dev.gale.kernels.rope.RopeTable;
import dev.gale.kernels.sampling.ArgmaxOp;
import dev.gale.opencl.OpenClDeviceProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * One decode-step-shaped graph (norm, gated feed-forward with F32 and F16 weights, residual, classifier, softmax,
 * argmax, RoPE at a run-time position) planned on the Vector API, on the grid emulator and on each OpenCL device:
 * same results within the numerics contract, and every report says which path ran each task. A batched argmax, which
 * has no device kernel, shows that fallback is an error unless asked for, and then reported.
 */
class GraphOnDevicesTest {
    static final int DIM = 64;
    static final int FFN = 96;
    static final int VOCAB = 200;
    static final int HEADS = 2;

    /** Binds seeded data to every tensor, runs twice, returns probs then the argmax id, and the last report. */
    private static List<float[]> run(Plan plan, List<RunReport> reports) {
        Random r = new Random(11);
        List<Buffer> owned = new ArrayList<>();
        List<float[]> result = new ArrayList<>();
        try (Bindings b = plan.newBindings()) {
            Buffer probs = null;
            Buffer ids = null;
            Buffer q = null;
            for (TensorParam p : tensorsOf(plan)) {
                int n = (int) p.desc().elementCount();
                Buffer buf = Buffers.allocate(p.name(), p.desc().dtype(), n);
                if (p.desc().dtype() != DType.I32) {
                    float[] v = new float[n];
                    for (int i = 0; i < n; i++) {
                        v[i] = (float) r.nextGaussian() * (p.name().endsWith(".w") ? 0.3f : 1f);
                    }
                    buf.copyFrom(v);
                }
                owned.add(buf);
                b.bind(p, buf);
                if (p.name().equals("probs")) {
                    probs = buf;
                } else if (p.name().equals("ids")) {
                    ids = buf;
                } else if (p.name().equals("q")) {
                    q = buf;
                }
            }
            if (hasPosition(plan)) {
                b.set(positionOf(plan), 3);
            }
            for (int step = 0; step < 2; step++) {
                reports.add(plan.run(b));
                result.add(probs.toFloatArray());
                result.add(new float[] {ids.getInt(0)});
                if (q != null) {
                    result.add(q.toFloatArray());
                }
            }
        } finally {
            owned.forEach(Buffer::close);
        }
        return result;
    }

    private static List<TensorParam> tensorsOf(Plan plan) {
        return HANDLES.get(plan.graph());
    }

    private static final java.util.Map<TaskGraph, List<TensorParam>> HANDLES = new java.util.IdentityHashMap<>();
    private static final java.util.Map<TaskGraph, IntScalar> POSITIONS = new java.util.IdentityHashMap<>();

    private static boolean hasPosition(Plan plan) {
        return POSITIONS.containsKey(plan.graph());
    }

    private static IntScalar positionOf(Plan plan) {
        return POSITIONS.get(plan.graph());
    }

    /** The graph, with its tensor handles (in creation order) and position scalar recorded for binding. */
    private static TaskGraph tracked(boolean withRope) {
        TaskGraph g = new TaskGraph("decode-step");
        List<TensorParam> handles = new ArrayList<>();
        TensorParam x = track(handles, g.tensor("x", DType.F32, 1, DIM));
        TensorParam normW = track(handles, g.tensor("norm.w", DType.F32, DIM));
        TensorParam gateW = track(handles, g.tensor("gate.w", DType.F32, FFN, DIM));
        TensorParam upW = track(handles, g.tensor("up.w", DType.F16, FFN, DIM));
        TensorParam downW = track(handles, g.tensor("down.w", DType.F32, DIM, FFN));
        TensorParam clsW = track(handles, g.tensor("cls.w", DType.F32, VOCAB, DIM));
        TensorParam h = track(handles, g.tensor("h", DType.F32, 1, DIM));
        TensorParam gate = track(handles, g.tensor("gate", DType.F32, 1, FFN));
        TensorParam up = track(handles, g.tensor("up", DType.F32, 1, FFN));
        TensorParam down = track(handles, g.tensor("down", DType.F32, 1, DIM));
        TensorParam logits = track(handles, g.tensor("logits", DType.F32, 1, VOCAB));
        TensorParam probs = track(handles, g.tensor("probs", DType.F32, 1, VOCAB));
        TensorParam ids = track(handles, g.tensor("ids", DType.I32, 1));
        g.launch("norm", new RmsNormOp(1e-5f), x, normW, h)
                .launch("gate", MatMulOp.INSTANCE, gateW, h, gate)
                .launch("up", MatMulOp.INSTANCE, upW, h, up)
                .launch("swiglu", SwiGluOp.INSTANCE, gate, up, gate)
                .launch("down", MatMulOp.INSTANCE, downW, gate, down)
                .launch("residual", ResidualAddOp.INSTANCE, x, down, x)
                .launch("classifier", MatMulOp.INSTANCE, clsW, x, logits)
                .launch("softmax", SoftmaxOp.INSTANCE, logits, probs, dev.gale.core.graph.Arg.of(0.5f))
                .launch("argmax", ArgmaxOp.INSTANCE, logits, ids);
        if (withRope) {
            TensorParam q = track(handles, g.tensor("q", DType.F32, 1, HEADS, DIM / HEADS));
            IntScalar pos = g.intScalar("position");
            POSITIONS.put(g, pos);
            g.launch("rope", new RopeOp(new RopeTable(16, DIM / HEADS, 10000, RopeLayout.HALF_SPLIT)), q, q, pos);
        }
        HANDLES.put(g, handles);
        return g;
    }

    private static TensorParam track(List<TensorParam> list, TensorParam p) {
        list.add(p);
        return p;
    }

    private static void assertSameResults(List<float[]> want, List<float[]> got, String where) {
        for (int i = 0; i < want.size(); i++) {
            float[] w = want.get(i);
            float[] g = got.get(i);
            for (int j = 0; j < w.length; j++) {
                // Probabilities through four matmuls, a norm and F16 weights: 1e-5 of the largest probability.
                if (Math.abs(w[j] - g[j]) > 1e-5f) {
                    fail(where + ": result " + i + " element " + j + ": " + g[j] + " vs Vector API " + w[j]);
                }
            }
        }
    }

    @Test
    void theEmulatorRunsEveryKernelOfThePlanAndAgreesWithTheVectorApi() {
        TaskGraph g = tracked(true);
        List<RunReport> reports = new ArrayList<>();
        List<float[]> vector = run(g.compile(Devices.cpu()), reports);
        List<float[]> emulated = run(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.EMULATOR)),
                reports);
        assertSameResults(vector, emulated, "emulator");
        RunReport last = reports.getLast();
        for (RunReport.TaskReport t : last.tasks()) {
            assertEquals(ImplPath.EMULATOR, t.path(), t.task());
        }
        // A batched argmax has no kernel: forcing the emulator on it is an error, not a silent CPU run.
        assertThrows(UnsupportedTaskException.class,
                () -> batchedArgmax().compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.EMULATOR)));
    }

    /** Argmax over two rows: the device kernel reduces one row, so this launch has CPU paths only. */
    private static TaskGraph batchedArgmax() {
        TaskGraph g = new TaskGraph("batched-argmax");
        TensorParam logits = g.tensor("logits", DType.F32, 2, VOCAB);
        TensorParam ids = g.tensor("ids", DType.I32, 2);
        g.launch("argmax", ArgmaxOp.INSTANCE, logits, ids);
        HANDLES.put(g, List.of(logits, ids));
        return g;
    }

    @Test
    void openClDevicesRunTheKernelsAndFallBackOnlyWhenAskedAndReported() {
        List<Device> devices = new OpenClDeviceProvider().devices();
        if (devices.isEmpty()) {
            if ("1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
                fail("no OpenCL device (GALE_REQUIRE_OPENCL=1): " + new OpenClDeviceProvider().unavailableReason());
            }
            Assumptions.abort("no OpenCL device: " + new OpenClDeviceProvider().unavailableReason());
        }
        TaskGraph g = tracked(true);
        List<RunReport> reports = new ArrayList<>();
        List<float[]> vector = run(g.compile(Devices.cpu()), reports);
        for (Device d : devices) {
            List<RunReport> deviceReports = new ArrayList<>();
            List<float[]> got = run(g.compile(d), deviceReports);
            assertSameResults(vector, got, d.id());
            RunReport report = deviceReports.getLast();
            assertFalse(report.anyFallback(), report.toString());
            for (RunReport.TaskReport t : report.tasks()) {
                assertEquals(d.id(), t.device(), report.toString());
                assertEquals(ImplPath.DEVICE_KERNEL, t.path(), report.toString());
            }
            System.out.println(report);

            TaskGraph batched = batchedArgmax();
            UnsupportedTaskException e = assertThrows(UnsupportedTaskException.class, () -> batched.compile(d));
            assertTrue(e.getMessage().contains("argmax") && e.getMessage().contains(d.id()), e.getMessage());
            Plan fallback = batched.compile(d, TaskGraph.PlanOptions.withFallback());
            // Buffers first: resources close in reverse, and a buffer cannot close while bindings hold it.
            try (Buffer logits = Buffers.allocate("logits", DType.F32, 2L * VOCAB);
                 Buffer ids = Buffers.allocate("ids", DType.I32, 2); Bindings b = fallback.newBindings()) {
                logits.setFloat(17, 5f);
                logits.setFloat(VOCAB + 33, 7f);
                RunReport r = fallback.run(b.bind(HANDLES.get(batched).get(0), logits)
                        .bind(HANDLES.get(batched).get(1), ids));
                assertEquals(17, ids.getInt(0));
                assertEquals(33, ids.getInt(1));
                assertTrue(r.anyFallback(), r.toString());
                assertEquals("cpu", r.task("argmax").device(), r.toString());
                assertTrue(r.task("argmax").detail().startsWith("fallback"), r.toString());
            }
        }
    }

    @Test
    void prefillMatmulsRunTheTiledKernelOnEveryBackend() {
        int tokens = 5;
        int out = 37;
        int in = 70;
        TaskGraph g = new TaskGraph("prefill-matmul");
        TensorParam x = g.tensor("x", DType.F32, tokens, in);
        TensorParam w32 = g.tensor("w32", DType.F32, out, in);
        TensorParam w16 = g.tensor("w16", DType.F16, out, in);
        TensorParam y32 = g.tensor("y32", DType.F32, tokens, out);
        TensorParam y16 = g.tensor("y16", DType.F32, tokens, out);
        g.launch("f32", MatMulOp.INSTANCE, w32, x, y32).launch("f16", MatMulOp.INSTANCE, w16, x, y16);
        HANDLES.put(g, List.of(x, w32, w16, y32, y16));
        List<Plan> plans = new ArrayList<>();
        plans.add(g.compile(Devices.cpu()));
        plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.EMULATOR)));
        new OpenClDeviceProvider().devices().forEach(d -> plans.add(g.compile(d)));
        float[][] want = null;
        for (Plan plan : plans) {
            Random r = new Random(5);
            List<Buffer> owned = new ArrayList<>();
            try (Bindings b = plan.newBindings()) {
                for (TensorParam p : HANDLES.get(g)) {
                    int n = (int) p.desc().elementCount();
                    float[] v = new float[n];
                    for (int i = 0; i < n; i++) {
                        v[i] = (float) r.nextGaussian();
                    }
                    Buffer buf = Buffers.allocate(p.name(), p.desc().dtype(), n).copyFrom(v);
                    owned.add(buf);
                    b.bind(p, buf);
                }
                RunReport report = plan.run(b);
                float[][] got = {owned.get(3).toFloatArray(), owned.get(4).toFloatArray()};
                if (want == null) {
                    want = got;
                    continue;
                }
                for (RunReport.TaskReport t : report.tasks()) {
                    assertFalse(t.detail().startsWith("fallback"), report.toString());
                }
                for (int k = 0; k < 2; k++) {
                    for (int i = 0; i < got[k].length; i++) {
                        // Dot products of 70 terms of unit size: a few e-6 absolute.
                        assertEquals(want[k][i], got[k][i], 2e-5f, plan.device().id() + " output " + k + "/" + i);
                    }
                }
            } finally {
                owned.forEach(Buffer::close);
            }
        }
    }
}
