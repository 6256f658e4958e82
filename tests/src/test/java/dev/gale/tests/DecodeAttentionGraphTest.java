package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.IntScalar;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.DecodeAttention;
import dev.gale.kernels.attention.DecodeAttentionOp;
import dev.gale.kernels.attention.DecodePlanner;
import dev.gale.kernels.attention.DenseKv;
import dev.gale.kernels.attention.KvAppendOp;
import dev.gale.kernels.attention.LeanSchedule;
import dev.gale.kernels.attention.OnePassSchedule;
import dev.gale.kernels.attention.SplitKSchedule;
import dev.gale.opencl.OpenClDeviceProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A decode step as a graph: {@link KvAppendOp} writes the new token's key and value at a run-time position and
 * publishes the length, and {@link DecodeAttentionOp} attends over the cache up to that length, in one plan on the
 * Vector API and reference paths, the emulator and every OpenCL device. Each step is checked against
 * {@link DecodeAttention#reference} over the cache the plan holds (the append's own placement is KvAppendGraphTest's
 * business), and the run report must name the schedule the op ran.
 */
class DecodeAttentionGraphTest {
    private static final int HEADS = 8;
    private static final int KV_HEADS = 2;
    private static final int D = 16;
    private static final int CAP = 160;
    /** Positions of the steps: the first tokens, a jump (the skipped slots hold zeros), both sides of a block. */
    private static final int[] STEPS = {0, 1, 2, 126, 127, 128, 129};

    @Test
    void appendThenAttendMatchesTheReferenceEveryStep() {
        AttentionSpec spec = AttentionSpec.of(HEADS, KV_HEADS, D, false);
        for (DType dt : new DType[] {DType.F32, DType.F16}) {
            for (DecodePlanner.Schedule schedule : new DecodePlanner.Schedule[] {DecodePlanner.Schedule.AUTO,
                DecodePlanner.Schedule.LEAN}) {
                TaskGraph g = new TaskGraph("decode step");
                TensorParam k = g.tensor("k", DType.F32, 1, KV_HEADS, D);
                TensorParam v = g.tensor("v", DType.F32, 1, KV_HEADS, D);
                TensorParam ck = g.tensor("K", dt, 1, KV_HEADS, CAP, D);
                TensorParam cv = g.tensor("V", dt, 1, KV_HEADS, CAP, D);
                TensorParam len = g.tensor("lengths", DType.I32, 1);
                TensorParam q = g.tensor("q", DType.F32, 1, HEADS, D);
                TensorParam out = g.tensor("out", DType.F32, 1, HEADS, D);
                IntScalar pos = g.intScalar("pos");
                g.launch("append", KvAppendOp.INSTANCE, k, v, ck, cv, len, pos);
                g.launch("attend", new DecodeAttentionOp(spec, schedule), q, ck, cv, len, out);
                List<Plan> plans = new ArrayList<>();
                plans.add(g.compile(Devices.cpu()));
                plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.REFERENCE)));
                plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.EMULATOR)));
                new OpenClDeviceProvider().devices().forEach(d -> plans.add(g.compile(d)));
                for (Plan plan : plans) {
                    steps(plan, spec, dt, schedule, k, v, ck, cv, len, q, out, pos);
                }
            }
        }
    }

    private static void steps(Plan plan, AttentionSpec spec, DType dt, DecodePlanner.Schedule schedule,
            TensorParam k, TensorParam v, TensorParam ck, TensorParam cv, TensorParam len, TensorParam q,
            TensorParam out, IntScalar pos) {
        SplittableRandom r = new SplittableRandom(17);
        String what = plan.describe() + " " + dt + " " + schedule;
        try (Buffer kb = Buffers.allocate("k", DType.F32, KV_HEADS * D);
             Buffer vb = Buffers.allocate("v", DType.F32, KV_HEADS * D);
             Buffer cK = Buffers.allocate("K", dt, (long) KV_HEADS * CAP * D);
             Buffer cV = Buffers.allocate("V", dt, (long) KV_HEADS * CAP * D);
             Buffer l = Buffers.allocate("lengths", DType.I32, 1);
             Buffer qb = Buffers.allocate("q", DType.F32, HEADS * D);
             Buffer ob = Buffers.allocate("out", DType.F32, HEADS * D);
             Buffer want = Buffers.allocate("want", DType.F32, HEADS * D); Bindings b = plan.newBindings()) {
            b.bind(k, kb).bind(v, vb).bind(ck, cK).bind(cv, cV).bind(len, l).bind(q, qb).bind(out, ob);
            for (int step : STEPS) {
                for (int i = 0; i < KV_HEADS * D; i++) {
                    kb.setFloat(i, (float) (r.nextDouble() * 2 - 1));
                    vb.setFloat(i, (float) (r.nextDouble() * 2 - 1));
                }
                for (int i = 0; i < HEADS * D; i++) {
                    qb.setFloat(i, (float) (r.nextDouble() * 4 - 2));
                }
                b.set(pos, step);
                RunReport report = plan.run(b);
                assertEquals(step + 1, l.getInt(0), what + ": published length");
                String detail = report.task("attend").detail();
                assertTrue(detail.contains(OnePassSchedule.NAME) || detail.contains(SplitKSchedule.NAME)
                        || detail.contains(LeanSchedule.NAME), what + ": the report names no schedule: " + detail);
                if (schedule == DecodePlanner.Schedule.LEAN) {
                    assertTrue(detail.contains(LeanSchedule.NAME), what + ": forced lean, report says " + detail);
                }
                DenseKv kv = DenseKv.headMajor(cK.segment(), cV.segment(), dt, KV_HEADS, CAP, D,
                        new int[] {step + 1});
                DecodeAttention.reference(kv, spec, qb.segment(), 0, want.segment(), 0);
                // Scores of |q| ≤ 2, |k| ≤ 1: |q·k|·τ ≤ 2·√d bounds the logit rounding; |v| ≤ 1 bounds Σp|v| by 1.
                double tol = Numerics.F32_REL + 2 * Numerics.dotBound(2 * Math.sqrt(D), D);
                for (int i = 0; i < HEADS * D; i++) {
                    float got = ob.getFloat(i);
                    float w = want.getFloat(i);
                    assertTrue(Math.abs(got - w) <= tol, what + " step " + step + " out[" + i + "]: got " + got
                            + ", want " + w + " (tol " + tol + ")");
                }
            }
        }
    }
}
