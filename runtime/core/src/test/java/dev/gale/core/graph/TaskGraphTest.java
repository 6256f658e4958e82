package dev.gale.core.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.BufferStateException;
import dev.gale.core.GaleException;
import dev.gale.core.ShapeMismatchException;
import dev.gale.core.UnboundParameterException;
import dev.gale.core.UnsupportedTaskException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class TaskGraphTest {
    private final CpuDevice cpu = Devices.cpu();

    /** A device with separate memory and no implementations, to exercise fallback rules. */
    private static final Device NO_KERNELS = new Device() {
        @Override
        public String id() {
            return "fake:0";
        }

        @Override
        public String name() {
            return "device without kernels";
        }

        @Override
        public String backend() {
            return "fake";
        }

        @Override
        public Capabilities capabilities() {
            return new Capabilities(DeviceType.GPU, 1, 0, 0, 0, 1, false, false, new long[3], Map.of());
        }
    };

    @Test
    void runTimeScalarsChangeWithoutRebuildingAndTheReportSaysWhatRan() {
        TaskGraph g = new TaskGraph("scale2");
        TensorParam x = g.tensor("x", DType.F32, 4);
        TensorParam y = g.tensor("y", DType.F32, 4);
        TensorParam z = g.tensor("z", DType.F32, 4);
        FloatScalar s = g.floatScalar("s");
        List<String> seen = new ArrayList<>();
        g.transferToDevice(x, TransferMode.EVERY_RUN)
                .launch("first", new ScaleOp(ImplPath.VECTOR_API, ImplPath.REFERENCE), x, y, s)
                .launch("second", new ScaleOp(ImplPath.VECTOR_API), y, z, Arg.of(10f))
                .host("peek", ctx -> seen.add("z0=" + ctx.buffer(0).getFloat(0)), z);
        Plan plan = g.compile(cpu);
        try (Buffer bx = Buffers.f32("bx", 1, 2, 3, 4); Buffer by = Buffers.allocate("by", DType.F32, 4);
             Buffer bz = Buffers.allocate("bz", DType.F32, 4); Bindings b = plan.newBindings()) {
            b.bind(x, bx).bind(y, by).bind(z, bz).set(s, 2f);
            RunReport r1 = plan.run(b);
            assertArrayEquals(new float[] {20, 40, 60, 80}, bz.toFloatArray());
            b.set(s, -1f);
            plan.run(b);
            assertArrayEquals(new float[] {-10, -20, -30, -40}, bz.toFloatArray());
            assertEquals(List.of("z0=20.0", "z0=-10.0"), seen);

            assertEquals(ImplPath.VECTOR_API, r1.task("first").path());
            assertEquals("cpu", r1.task("first").device());
            assertEquals(ImplPath.HOST, r1.task("peek").path());
            assertEquals(ImplPath.TRANSFER, r1.task("to-device x").path());
            assertTrue(r1.task("to-device x").detail().contains("no copy"));
            assertFalse(r1.anyFallback());
            assertTrue(r1.toString().contains("first") && r1.toString().contains("VECTOR_API"), r1.toString());
        }
    }

    @Test
    void transferModesDecideWhichRunsCopy() {
        TaskGraph g = new TaskGraph("modes");
        TensorParam w = g.tensor("w", DType.F32, 2);
        TensorParam a = g.tensor("a", DType.F32, 2);
        g.transferToDevice(w, TransferMode.ONCE).transferToDevice(a, TransferMode.ON_DEMAND);
        Plan plan = g.compile(cpu);
        try (Buffer bw = Buffers.allocate("bw", DType.F32, 2); Buffer ba = Buffers.allocate("ba", DType.F32, 2);
             Bindings b = plan.newBindings().bind(w, bw).bind(a, ba)) {
            RunReport r1 = plan.run(b);
            assertFalse(r1.task("to-device w").skipped());
            assertTrue(r1.task("to-device a").skipped());
            b.requestTransfer(a);
            RunReport r2 = plan.run(b);
            assertTrue(r2.task("to-device w").skipped());
            assertFalse(r2.task("to-device a").skipped());
            assertTrue(plan.run(b).task("to-device a").skipped());
        }
    }

    @Test
    void shapeMismatchAtLaunchNamesTaskAndShapes() {
        TaskGraph g = new TaskGraph("bad");
        TensorParam x = g.tensor("x", DType.F32, 4);
        TensorParam y = g.tensor("y", DType.F32, 5);
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                () -> g.launch("oops", new ScaleOp(ImplPath.VECTOR_API), x, y, Arg.of(1f)));
        assertTrue(e.getMessage().contains("oops") && e.getMessage().contains("F32[4]")
                && e.getMessage().contains("F32[5]"), e.getMessage());
    }

    @Test
    void bindingChecksDtypeAndSize() {
        TaskGraph g = new TaskGraph("bind");
        TensorParam x = g.tensor("x", DType.F32, 8);
        Plan plan = g.compile(cpu);
        try (Bindings b = plan.newBindings(); Buffer small = Buffers.allocate("small", DType.F32, 7);
             Buffer half = Buffers.allocate("half", DType.F16, 8)) {
            ShapeMismatchException e1 = assertThrows(ShapeMismatchException.class, () -> b.bind(x, small));
            assertTrue(e1.getMessage().contains("'x'") && e1.getMessage().contains("'small'")
                    && e1.getMessage().contains("F32[8]"), e1.getMessage());
            ShapeMismatchException e2 = assertThrows(ShapeMismatchException.class, () -> b.bind(x, half));
            assertTrue(e2.getMessage().contains("F16"), e2.getMessage());
        }
    }

    @Test
    void unboundScalarIsATypedErrorNamingIt() {
        TaskGraph g = new TaskGraph("unbound");
        TensorParam x = g.tensor("x", DType.F32, 2);
        TensorParam y = g.tensor("y", DType.F32, 2);
        FloatScalar s = g.floatScalar("temperature");
        g.launch("scale", new ScaleOp(ImplPath.VECTOR_API), x, y, s);
        Plan plan = g.compile(cpu);
        try (Buffer bx = Buffers.allocate("bx", DType.F32, 2); Buffer by = Buffers.allocate("by", DType.F32, 2);
             Bindings b = plan.newBindings().bind(x, bx).bind(y, by)) {
            UnboundParameterException e = assertThrows(UnboundParameterException.class, () -> plan.run(b));
            assertTrue(e.getMessage().contains("temperature") && e.getMessage().contains("scale"), e.getMessage());
        }
    }

    @Test
    void closingABufferAPlanStillUsesIsRefused() {
        TaskGraph g = new TaskGraph("hold");
        TensorParam x = g.tensor("x", DType.F32, 2);
        Plan plan = g.compile(cpu);
        Buffer bx = Buffers.allocate("activations", DType.F32, 2);
        Bindings b = plan.newBindings().bind(x, bx);
        BufferStateException e = assertThrows(BufferStateException.class, bx::close);
        assertTrue(e.getMessage().contains("activations") && e.getMessage().contains("hold"), e.getMessage());
        assertTrue(bx.isOpen());
        b.close();
        bx.close();
        assertFalse(bx.isOpen());
    }

    @Test
    void fallbackIsAnErrorUnlessAskedForAndThenReported() {
        TaskGraph g = new TaskGraph("fb");
        TensorParam x = g.tensor("x", DType.F32, 2);
        TensorParam y = g.tensor("y", DType.F32, 2);
        g.launch("scale", new ScaleOp(ImplPath.VECTOR_API), x, y, Arg.of(3f));
        UnsupportedTaskException e = assertThrows(UnsupportedTaskException.class, () -> g.compile(NO_KERNELS));
        assertTrue(e.getMessage().contains("fake:0") && e.getMessage().contains("withFallback"), e.getMessage());

        Plan plan = g.compile(NO_KERNELS, TaskGraph.PlanOptions.withFallback());
        try (Buffer bx = Buffers.f32("bx", 1, 2); Buffer by = Buffers.allocate("by", DType.F32, 2);
             Bindings b = plan.newBindings().bind(x, bx).bind(y, by)) {
            RunReport r = plan.run(b);
            assertArrayEquals(new float[] {3, 6}, by.toFloatArray());
            assertEquals("cpu", r.task("scale").device());
            assertTrue(r.anyFallback());
            assertTrue(r.task("scale").detail().contains("fallback"));
        }
    }

    @Test
    void forcingAPathTheOpLacksFails() {
        TaskGraph g = new TaskGraph("force");
        TensorParam x = g.tensor("x", DType.F32, 2);
        g.launch("scale", new ScaleOp(ImplPath.VECTOR_API), x, x, Arg.of(1f));
        assertThrows(UnsupportedTaskException.class,
                () -> g.compile(cpu, TaskGraph.PlanOptions.forcing(ImplPath.REFERENCE)));
        assertEquals(ImplPath.VECTOR_API, g.compile(cpu, TaskGraph.PlanOptions.forcing(ImplPath.VECTOR_API))
                .placed().getFirst().path());
    }

    @Test
    void handlesOfAnotherGraphAreRejected() {
        TaskGraph a = new TaskGraph("a");
        TaskGraph b = new TaskGraph("b");
        TensorParam xa = a.tensor("x", DType.F32, 2);
        TensorParam xb = b.tensor("x", DType.F32, 2);
        assertThrows(GaleException.class, () -> b.launch("mix", new ScaleOp(ImplPath.VECTOR_API), xa, xb, Arg.of(1f)));
    }

    @Test
    void onePlanRunsConcurrentlyWithSeparateBindings() throws Exception {
        TaskGraph g = new TaskGraph("shared");
        TensorParam x = g.tensor("x", DType.F32, 1024);
        TensorParam y = g.tensor("y", DType.F32, 1024);
        FloatScalar s = g.floatScalar("s");
        g.launch("scale", new ScaleOp(ImplPath.VECTOR_API), x, y, s);
        Plan plan = g.compile(cpu);
        ExecutorService threads = Executors.newFixedThreadPool(4);
        List<Future<Boolean>> ok = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            final int id = t;
            ok.add(threads.submit(() -> {
                float[] ones = new float[1024];
                java.util.Arrays.fill(ones, 1f);
                try (Buffer bx = Buffers.f32("x" + id, ones); Buffer by = Buffers.allocate("y" + id, DType.F32, 1024);
                     Bindings b = plan.newBindings().bind(x, bx).bind(y, by)) {
                    for (int rep = 0; rep < 200; rep++) {
                        b.set(s, id * 1000 + rep);
                        plan.run(b);
                        for (int i = 0; i < 1024; i += 97) {
                            if (by.getFloat(i) != id * 1000 + rep) {
                                return false;
                            }
                        }
                    }
                }
                return true;
            }));
        }
        for (Future<Boolean> f : ok) {
            assertTrue(f.get());
        }
        threads.shutdown();
    }
}
