package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.IntScalar;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.attention.KvAppendOp;
import dev.gale.opencl.OpenClDeviceProvider;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Appending to a dense head-major cache on every backend: exact placement, F16 rounding, the published length. */
class KvAppendGraphTest {
    private static final int HEADS = 3;
    private static final int D = 5;
    private static final int CAP = 9;
    private static final int TOKENS = 2;

    @Test
    void tokensLandInTheirHeadMajorSlotsOnEveryBackend() {
        for (DType dt : new DType[] {DType.F32, DType.F16}) {
            TaskGraph g = new TaskGraph("append");
            TensorParam k = g.tensor("k", DType.F32, TOKENS, HEADS, D);
            TensorParam v = g.tensor("v", DType.F32, TOKENS, HEADS, D);
            TensorParam ck = g.tensor("K", dt, 1, HEADS, CAP, D);
            TensorParam cv = g.tensor("V", dt, 1, HEADS, CAP, D);
            TensorParam len = g.tensor("lengths", DType.I32, 1);
            IntScalar pos = g.intScalar("pos");
            g.launch("append", KvAppendOp.INSTANCE, k, v, ck, cv, len, pos);
            List<Plan> plans = new ArrayList<>();
            plans.add(g.compile(Devices.cpu()));
            plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.REFERENCE)));
            plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.EMULATOR)));
            new OpenClDeviceProvider().devices().forEach(d -> plans.add(g.compile(d)));
            float[] kv = new float[TOKENS * HEADS * D];
            for (int i = 0; i < kv.length; i++) {
                kv[i] = 1.0f + i / 3.0f; // thirds are not exact in F16: the rounding shows
            }
            for (Plan plan : plans) {
                try (Buffer kb = Buffers.f32("k", kv); Buffer vb = Buffers.f32("v", kv);
                     Buffer cK = Buffers.allocate("K", dt, (long) HEADS * CAP * D);
                     Buffer cV = Buffers.allocate("V", dt, (long) HEADS * CAP * D);
                     Buffer l = Buffers.allocate("lengths", DType.I32, 1); Bindings b = plan.newBindings()) {
                    b.bind(k, kb).bind(v, vb).bind(ck, cK).bind(cv, cV).bind(len, l).set(pos, 6);
                    plan.run(b);
                    assertEquals(8, l.getInt(0), plan.describe());
                    for (int t = 0; t < TOKENS; t++) {
                        for (int h = 0; h < HEADS; h++) {
                            for (int e = 0; e < D; e++) {
                                float src = kv[(t * HEADS + h) * D + e];
                                float want = dt == DType.F16 ? Float.float16ToFloat(Float.floatToFloat16(src)) : src;
                                long at = ((long) h * CAP + 6 + t) * D + e;
                                assertEquals(want, read(cK, dt, at), plan.describe() + " K t" + t + " h" + h);
                                assertEquals(want, read(cV, dt, at), plan.describe() + " V t" + t + " h" + h);
                            }
                        }
                    }
                    assertEquals(0f, read(cK, dt, 0)); // nothing else written
                    b.set(pos, 8);
                    assertThrows(ShapeMismatchException.class, () -> plan.run(b));
                }
            }
        }
    }

    private static float read(Buffer b, DType dt, long i) {
        return dt == DType.F32 ? b.getFloat(i)
                : Float.float16ToFloat(b.segment().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
    }
}
