package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.FloatScalar;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.sampling.NucleusSampler;
import dev.gale.kernels.sampling.SampleOp;
import dev.gale.kernels.sampling.Xorshift;
import dev.gale.opencl.OpenClDeviceProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The sampling op in a plan on every backend: one seed gives the same tokens everywhere, step after step. */
class SampleOpGraphTest {
    @Test
    void oneSeedSamplesTheSameTokensOnEveryBackend() {
        int vocab = 512;
        TaskGraph g = new TaskGraph("sample");
        TensorParam logits = g.tensor("logits", DType.F32, 1, vocab);
        TensorParam probs = g.tensor("probs", DType.F32, 1, vocab);
        TensorParam ids = g.tensor("ids", DType.I32, 1);
        FloatScalar coin = g.floatScalar("coin");
        g.launch("sample", new SampleOp(0.9f, 0.9f), logits, probs, ids, coin);
        List<Plan> plans = new ArrayList<>();
        plans.add(g.compile(Devices.cpu()));
        plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.REFERENCE)));
        new OpenClDeviceProvider().devices().forEach(d -> plans.add(g.compile(d)));
        float[] xs = new float[vocab];
        Random r = new Random(3);
        for (int i = 0; i < vocab; i++) {
            xs[i] = (float) (r.nextGaussian() * 2.5);
        }
        List<Integer> want = new ArrayList<>();
        try (Buffer x = Buffers.f32("logits", xs)) {
            Xorshift rng = new Xorshift(1337);
            for (int step = 0; step < 12; step++) {
                want.add(NucleusSampler.reference(x.segment(), 0, vocab, 0.9f, 0.9f, rng.nextCoin()));
            }
            for (Plan plan : plans) {
                Xorshift rng2 = new Xorshift(1337);
                try (Buffer p = Buffers.allocate("probs", DType.F32, vocab);
                     Buffer id = Buffers.allocate("ids", DType.I32, 1); Bindings b = plan.newBindings()) {
                    b.bind(logits, x).bind(probs, p).bind(ids, id);
                    for (int step = 0; step < 12; step++) {
                        b.set(coin, rng2.nextCoin());
                        RunReport report = plan.run(b);
                        assertTrue(!report.tasks().get(0).detail().startsWith("fallback"), report.toString());
                        assertEquals(want.get(step), id.getInt(0), plan.describe() + " step " + step);
                    }
                }
            }
        }
    }
}
