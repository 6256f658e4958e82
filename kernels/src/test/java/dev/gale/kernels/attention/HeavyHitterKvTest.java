package dev.gale.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.IntScalar;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.Numerics;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * H2O's cache: attention equals the double reference over the kept tokens; each step's counters equal the softmax
 * probabilities recomputed in double; eviction takes the least-attended token outside the recent window.
 */
class HeavyHitterKvTest {
    static final int HKV = 2;
    static final int HQ = 6;
    static final int D = 24;

    /**
     * A prompt launch ({@link TokenOrderPromptOp#h2o}: tokens appended and attending in order, evictions inside it)
     * leaves the same cache (bit for bit: slots are copies), the same victims and, up to F32 rounding, the same
     * counters and outputs as the same tokens fed one append and one decode at a time.
     *
     * <p>Not bit for bit: the fold's horizontal sums ({@code reduceLanes}) run in another order in the interpreter
     * than in C2 code, the launch runs first while the JIT is still compiling, and CI once saw a launch output differ
     * from its step in the last bits. The same order of operations is what this pins; README's reproducibility
     * paragraph says which kernels are tier-independent.
     */
    @Test
    void aPromptIsItsTokensInOrder() {
        AttentionSpec spec = AttentionSpec.of(HQ, HKV, D, false);
        SplittableRandom r = new SplittableRandom(9);
        int tokens = 23;
        int heavy = 3;
        int recent = 5;
        try (Arena a = Arena.ofShared()) {
            long floats = (long) HKV * (heavy + recent) * D;
            HeavyHitterKv batched = new HeavyHitterKv(HKV, D, heavy, recent, a.allocate(4 * floats),
                    a.allocate(4 * floats));
            HeavyHitterKv stepped = new HeavyHitterKv(HKV, D, heavy, recent, a.allocate(4 * floats),
                    a.allocate(4 * floats));
            Buffer kb = Buffers.allocate("k", DType.F32, (long) tokens * HKV * D);
            Buffer vb = Buffers.allocate("v", DType.F32, (long) tokens * HKV * D);
            Buffer qb = Buffers.allocate("q", DType.F32, (long) tokens * HQ * D);
            Buffer gotb = Buffers.allocate("out", DType.F32, (long) tokens * HQ * D);
            MemorySegment k = kb.segment();
            MemorySegment v = vb.segment();
            MemorySegment q = qb.segment();
            MemorySegment got = gotb.segment();
            fill(k, r, 2);
            fill(v, r, 1);
            fill(q, r, 2);
            MemorySegment want = a.allocate(4L * tokens * HQ * D);
            TaskGraph g = new TaskGraph("h2o prompt");
            TensorParam qp = g.tensor("q", DType.F32, tokens, HQ, D);
            TensorParam kp = g.tensor("k", DType.F32, tokens, HKV, D);
            TensorParam vp = g.tensor("v", DType.F32, tokens, HKV, D);
            TensorParam op = g.tensor("out", DType.F32, tokens, HQ, D);
            IntScalar pos = g.intScalar("pos");
            g.launch("prompt", TokenOrderPromptOp.h2o(batched, spec), qp, kp, vp, pos, op);
            Plan plan = g.compile(Devices.cpu());
            try (Bindings b = plan.newBindings()) {
                b.bind(qp, qb).bind(kp, kb).bind(vp, vb).bind(op, gotb);
                b.set(pos, 7);
                plan.run(b);
            }
            for (int t = 0; t < tokens; t++) {
                stepped.append(k.asSlice(4L * t * HKV * D), v.asSlice(4L * t * HKV * D), 7 + t);
                stepped.decode(spec, q.asSlice(4L * t * HQ * D), want.asSlice(4L * t * HQ * D));
            }
            // An output is a convex combination of values: its scale is the largest |v|.
            double vMax = 0;
            for (long i = 0; i < (long) tokens * HKV * D; i++) {
                vMax = Math.max(vMax, Math.abs(v.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i)));
            }
            for (long i = 0; i < (long) tokens * HQ * D; i++) {
                assertEquals(want.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i),
                        got.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i), Numerics.F32_REL * vMax,
                        "output " + i + " (token " + i / (HQ * D) + ")");
            }
            assertEquals(-1, batched.keysForTests().mismatch(stepped.keysForTests()), "keys");
            float[][] cb = batched.counters();
            float[][] cs = stepped.counters();
            for (int h = 0; h < HKV; h++) {
                for (int s = 0; s < cs[h].length; s++) {
                    // A counter sums at most one probability per query row and step.
                    assertEquals(cs[h][s], cb[h][s], Numerics.F32_REL * (1 + Math.abs(cs[h][s])),
                            "counter of head " + h + " slot " + s);
                }
            }
            for (int s = 0; s < heavy + recent; s++) {
                assertEquals(stepped.position(s), batched.position(s), "slot " + s);
            }
        }
    }

    @Test
    void attentionCountersAndEvictionFollowH2o() {
        AttentionSpec spec = AttentionSpec.of(HQ, HKV, D, false);
        SplittableRandom r = new SplittableRandom(4);
        try (Arena a = Arena.ofShared()) {
            int heavy = 5;
            int recent = 70;
            long floats = (long) HKV * (heavy + recent) * D;
            HeavyHitterKv kv = new HeavyHitterKv(HKV, D, heavy, recent, a.allocate(4 * floats),
                    a.allocate(4 * floats));
            MemorySegment k = a.allocate(4L * HKV * D);
            MemorySegment v = a.allocate(4L * HKV * D);
            MemorySegment q = a.allocate(4L * HQ * D);
            MemorySegment out = a.allocate(4L * HQ * D);
            MemorySegment want = a.allocate(4L * HQ * D);
            for (int step = 0; step < 120; step++) {
                fill(k, r, 2);
                fill(v, r, 1);
                fill(q, r, 2);
                float[][] before = kv.counters();
                int victimExpected = step < heavy + recent ? step : expectedVictim(kv, step, recent);
                int slot = kv.append(k, v, step);
                assertEquals(victimExpected, slot, "step " + step);
                kv.reference(spec, q, want);
                double[] probs = probabilities(kv, spec, q);
                kv.decode(spec, q, out);
                for (int i = 0; i < HQ * D; i++) {
                    assertEquals(want.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i),
                            out.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i), 2e-5, "output " + i);
                }
                float[][] after = kv.counters();
                for (int h = 0; h < HKV; h++) {
                    for (int s = 0; s < kv.length(); s++) {
                        double added = after[h][s] - (s == slot ? 0 : before[h][s]);
                        assertEquals(probs[h * kv.budget() + s], added, 1e-5, "step " + step + " head " + h
                                + " slot " + s);
                    }
                }
            }
            assertTrue(kv.length() == heavy + recent);
        }
    }

    /** Least accumulated attention over both heads among tokens older than the recent window; ties: the oldest. */
    private static int expectedVictim(HeavyHitterKv kv, long pos, int recent) {
        int best = -1;
        for (int s = 0; s < kv.budget(); s++) {
            if (kv.position(s) >= pos - recent) {
                continue;
            }
            if (best < 0 || kv.accumulated(s) < kv.accumulated(best)
                    || kv.accumulated(s) == kv.accumulated(best) && kv.position(s) < kv.position(best)) {
                best = s;
            }
        }
        return best;
    }

    /** Per KV head and slot, the probability mass its query heads give the slot, in double. */
    private static double[] probabilities(HeavyHitterKv kv, AttentionSpec spec, MemorySegment q) {
        double[] p = new double[HKV * kv.budget()];
        HeadView keys = HeadView.headMajor(keysOf(kv), 0, dev.gale.core.buffer.DType.F32, kv.budget(), D);
        int g = HQ / HKV;
        for (int h = 0; h < HQ; h++) {
            int kh = h / g;
            double[] s = new double[kv.length()];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < kv.length(); j++) {
                double dot = 0;
                for (int e = 0; e < D; e++) {
                    dot += (double) q.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) h * D + e) * keys.get(j, kh, e);
                }
                s[j] = dot * spec.scale();
                max = Math.max(max, s[j]);
            }
            double sum = 0;
            for (double x : s) {
                sum += Math.exp(x - max);
            }
            for (int j = 0; j < kv.length(); j++) {
                p[kh * kv.budget() + j] += Math.exp(s[j] - max) / sum;
            }
        }
        return p;
    }

    private static MemorySegment keysOf(HeavyHitterKv kv) {
        return kv.keysForTests();
    }

    private static void fill(MemorySegment m, SplittableRandom r, double spread) {
        for (long i = 0; i < m.byteSize() / 4; i++) {
            m.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (r.nextGaussian() * spread));
        }
    }
}
