package dev.gale.kernels.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.IntScalar;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.activation.ResidualAddOp;
import dev.gale.kernels.activation.SwiGluOp;
import dev.gale.kernels.gemm.MatMulOp;
import dev.gale.kernels.norm.RmsNormOp;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeOp;
import dev.gale.kernels.rope.RopeTable;
import dev.gale.kernels.sampling.ArgmaxOp;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A Llama-style block tail as one task graph of real ops (RMSNorm, RoPE at a run-time position, SwiGLU feed-forward,
 * residual add, classifier, argmax), run on the Vector API path and, forced, on the scalar references.
 */
@Tag("vector")
class FeedForwardGraphTest {
    static final int DIM = 96;
    static final int FFN = 160;
    static final int VOCAB = 301;
    static final int HEADS = 4;
    static final int HEAD_DIM = DIM / HEADS;

    record Block(TaskGraph graph, TensorParam[] weights, TensorParam x, TensorParam q, TensorParam ids,
                 TensorParam logits, IntScalar pos) {
    }

    static Block build() {
        TaskGraph g = new TaskGraph("ffn-block");
        TensorParam x = g.tensor("x", DType.F32, 1, DIM);
        TensorParam normW = g.tensor("norm.w", DType.F32, DIM);
        TensorParam gateW = g.tensor("gate.w", DType.F32, FFN, DIM);
        TensorParam upW = g.tensor("up.w", DType.F16, FFN, DIM);
        TensorParam downW = g.tensor("down.w", DType.F32, DIM, FFN);
        TensorParam clsW = g.tensor("cls.w", DType.F32, VOCAB, DIM);
        TensorParam h = g.tensor("h", DType.F32, 1, DIM);
        TensorParam q = g.tensor("q", DType.F32, 1, HEADS, HEAD_DIM);
        TensorParam gate = g.tensor("gate", DType.F32, 1, FFN);
        TensorParam up = g.tensor("up", DType.F32, 1, FFN);
        TensorParam act = g.tensor("act", DType.F32, 1, FFN);
        TensorParam down = g.tensor("down", DType.F32, 1, DIM);
        TensorParam logits = g.tensor("logits", DType.F32, 1, VOCAB);
        TensorParam ids = g.tensor("ids", DType.I32, 1);
        IntScalar pos = g.intScalar("position");
        RopeTable table = new RopeTable(64, HEAD_DIM, 10000, RopeLayout.ADJACENT_PAIRS);
        g.launch("norm", new RmsNormOp(1e-5f), x, normW, h)
                .launch("gate", MatMulOp.INSTANCE, gateW, h, gate)
                .launch("up", MatMulOp.INSTANCE, upW, h, up)
                .launch("swiglu", SwiGluOp.INSTANCE, gate, up, act)
                .launch("down", MatMulOp.INSTANCE, downW, act, down)
                .launch("residual", ResidualAddOp.INSTANCE, x, down, x)
                .launch("rope", new RopeOp(table), q, q, pos)
                .launch("classifier", MatMulOp.INSTANCE, clsW, x, logits)
                .launch("argmax", ArgmaxOp.INSTANCE, logits, ids);
        return new Block(g, new TensorParam[] {normW, gateW, upW, downW, clsW, h, gate, up, act, down}, x, q, ids,
                logits, pos);
    }

    static float[] random(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * scale);
        }
        return v;
    }

    /** Runs the plan for 3 positions, returning the logits and ids of each step. */
    static List<float[]> run(Block b, Plan plan, long seed) {
        Random r = new Random(seed);
        List<Buffer> owned = new ArrayList<>();
        List<float[]> results = new ArrayList<>();
        try (Bindings bind = plan.newBindings()) {
            for (int i = 0; i < b.weights().length; i++) {
                TensorParam p = b.weights()[i];
                long n = p.desc().elementCount();
                Buffer buf = Buffers.allocate(p.name(), p.desc().dtype(), n);
                buf.copyFrom(random(r, (int) n, i == 0 ? 1f : 0.2f));
                owned.add(buf);
                bind.bind(p, buf);
            }
            Buffer x = Buffers.f32("x", random(r, DIM, 1f));
            Buffer q = Buffers.f32("q", random(r, DIM, 1f));
            Buffer logits = Buffers.allocate("logits", DType.F32, VOCAB);
            Buffer ids = Buffers.allocate("ids", DType.I32, 1);
            owned.addAll(List.of(x, q, logits, ids));
            bind.bind(b.x(), x).bind(b.q(), q).bind(b.logits(), logits).bind(b.ids(), ids);
            for (int step = 0; step < 3; step++) {
                bind.set(b.pos(), 5 + step);
                RunReport report = plan.run(bind);
                assertEquals(9, report.tasks().size());
                results.add(logits.toFloatArray());
                results.add(q.toFloatArray());
                results.add(new float[] {ids.getInt(0)});
            }
        } finally {
            owned.forEach(Buffer::close);
        }
        return results;
    }

    @Test
    void vectorPlanMatchesTheReferencePlan() {
        Block b = build();
        Plan vector = b.graph().compile(Devices.cpu());
        Plan reference = b.graph().compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.REFERENCE));
        assertTrue(vector.describe().contains("classifier -> cpu VECTOR_API"), vector.describe());
        List<float[]> v = run(b, vector, 7);
        List<float[]> ref = run(b, reference, 7);
        for (int i = 0; i < v.size(); i++) {
            float[] a = v.get(i);
            float[] e = ref.get(i);
            double scale = 0;
            for (float f : e) {
                scale = Math.max(scale, Math.abs(f));
            }
            for (int j = 0; j < a.length; j++) {
                // The chain of 4 matmuls, a norm and an F16 weight read: a few e-5 of the output scale.
                assertEquals(e[j], a[j], 1e-4 * scale + 1e-6, "result " + i + " element " + j);
            }
        }
    }

    @Test
    void reportNamesEveryOpsPathAndMismatchedLaunchesFailAtBuildTime() {
        Block b = build();
        Plan plan = b.graph().compile(Devices.cpu());
        for (String line : plan.describe().split("\n")) {
            if (line.contains("->")) {
                assertTrue(line.contains("cpu VECTOR_API"), line);
            }
        }
        TaskGraph g = new TaskGraph("bad");
        TensorParam w = g.tensor("w", DType.F32, 8, 16);
        TensorParam x = g.tensor("x", DType.F32, 1, 15);
        TensorParam y = g.tensor("y", DType.F32, 1, 8);
        ShapeMismatchException e = assertThrows(ShapeMismatchException.class,
                () -> g.launch("proj", MatMulOp.INSTANCE, w, x, y));
        assertTrue(e.getMessage().contains("proj") && e.getMessage().contains("F32[1, 15]")
                && e.getMessage().contains("F32[8, 16]"), e.getMessage());
        assertThrows(ShapeMismatchException.class, () -> g.launch("argmax", ArgmaxOp.INSTANCE, y, Arg.of(3)));
    }
}
