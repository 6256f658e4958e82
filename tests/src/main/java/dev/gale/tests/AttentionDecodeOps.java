package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.DecodeAttention;
import dev.gale.kernels.attention.DecodeKernels;
import dev.gale.kernels.attention.DecodeShape;
import dev.gale.kernels.attention.DenseKv;
import dev.gale.kernels.attention.LeanSchedule;
import dev.gale.kernels.attention.OnePassSchedule;
import dev.gale.kernels.attention.SplitKSchedule;
import dev.gale.kernels.attention.WorkList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Decode attention on every target: the Vector API runner, or the partial kernel of the cache's precision followed by
 * the shared merge kernel, for each schedule's work list, against {@link DecodeAttention#reference}. The emulator gets
 * the small cases only (it runs every work item as a virtual thread).
 */
public final class AttentionDecodeOps {
    private static final int GROUP = 64;

    private AttentionDecodeOps() {
    }

    public static List<OpCheck> all() {
        return List.of(decode(DType.F32), decode(DType.F16));
    }

    /** {heads, kvHeads, d, lengths…}. */
    private static final int[][] SMALL = {{4, 2, 16, 1, 0, 65}, {6, 3, 8, 129, 7}};
    private static final int[][] LARGE = {{32, 8, 128, 200}};

    static OpCheck decode(DType dtype) {
        String name = "decode_attention_" + dtype.name().toLowerCase();
        return new OpCheck(name, "|err| <= (1e-5 + logit rounding) * sum p|v|", (t, e) -> {
            SplittableRandom r = new SplittableRandom(dtype == DType.F16 ? 5 : 3);
            List<int[]> cases = new java.util.ArrayList<>(List.of(SMALL));
            if (!t.name().equals("emulator")) {
                cases.addAll(List.of(LARGE));
            }
            for (int[] c : cases) {
                int heads = c[0];
                int kvHeads = c[1];
                int d = c[2];
                int[] lengths = java.util.Arrays.copyOfRange(c, 3, c.length);
                int cap = java.util.Arrays.stream(lengths).max().orElse(1);
                int b = lengths.length;
                long kvn = (long) b * kvHeads * cap * d;
                int qn = b * heads * d;
                AttentionSpec spec = AttentionSpec.of(heads, kvHeads, d, false);
                try (Buffer q = Buffers.f32("q", Ops.random(r, qn, 2)); Buffer k = Buffers.allocate("k", dtype, kvn);
                     Buffer v = Buffers.allocate("v", dtype, kvn); Buffer want = Buffers.allocate("want", DType.F32, qn);
                     Buffer got = Buffers.allocate("got", DType.F32, qn)) {
                    for (long i = 0; i < kvn; i++) {
                        k.setFloat(i, (float) (r.nextDouble() * 2 - 1));
                        v.setFloat(i, (float) (r.nextDouble() * 2 - 1));
                    }
                    DenseKv kv = DenseKv.headMajor(k.segment(), v.segment(), dtype, kvHeads, cap, d, lengths);
                    DecodeAttention.reference(kv, spec, q.segment(), 0, want.segment(), 0);
                    DecodeShape shape = DecodeShape.of(kv);
                    for (WorkList list : List.of(OnePassSchedule.build(shape, 3), SplitKSchedule.build(shape, 3),
                            LeanSchedule.build(shape, 3))) {
                        run(t, kv, list, spec, q, k, v, got, cap);
                        // Scores of random data in [-1, 1]: |q·k|·τ ≤ 2·√d, the logit rounding's size.
                        double tol = Numerics.F32_REL + 2 * Numerics.dotBound(2 * Math.sqrt(d), d);
                        for (int i = 0; i < qn; i++) {
                            e.check(list.schedule() + " " + heads + "/" + kvHeads + "x" + d + " "
                                    + java.util.Arrays.toString(lengths) + " i=" + i, got.getFloat(i),
                                    want.getFloat(i), 1.0, tol);
                        }
                    }
                }
            }
        });
    }

    private static void run(Target t, DenseKv kv, WorkList list, AttentionSpec spec, Buffer q, Buffer k, Buffer v,
            Buffer out, int cap) {
        if (t.vectorApi()) {
            new DecodeAttention().run(kv, list, spec.heads(), spec.scale(), q.segment(), 0, out.segment(), 0);
            return;
        }
        int g = spec.group();
        int d = spec.headDim();
        try (Buffer segments = ints("segments", list.segments());
             Buffer workerStart = ints("workerStart", list.workerStart());
             Buffer tileSlots = ints("tileSlots", list.tileSlots());
             Buffer partials = Buffers.allocate("partials", DType.F32, Math.max(1, list.slots() * g * (d + 2)))) {
            t.kernel(DecodeKernels.class, k.dtype() == DType.F16 ? "partialF16" : "partialF32",
                    Grid.of1(list.workers() * GROUP, GROUP), segments, workerStart, q, k, v, partials,
                    spec.kvHeads(), cap, spec.scale(), g, d, GROUP);
            int n = list.tiles() * g * d;
            t.kernel(DecodeKernels.class, "merge", Grid.of1(Ops.roundUp(n, GROUP), GROUP), tileSlots, partials, out,
                    list.tiles(), g, d);
        }
    }

    private static Buffer ints(String name, int[] values) {
        Buffer b = Buffers.allocate(name, DType.I32, Math.max(1, values.length));
        for (int i = 0; i < values.length; i++) {
            b.setInt(i, values[i]);
        }
        return b;
    }
}
