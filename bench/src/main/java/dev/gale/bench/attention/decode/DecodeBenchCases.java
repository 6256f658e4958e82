package dev.gale.bench.attention.decode;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.Roofline;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.attention.DecodeAttention;
import dev.gale.kernels.attention.DecodePlanner;
import dev.gale.kernels.attention.DecodeShape;
import dev.gale.kernels.attention.DenseKv;
import dev.gale.kernels.attention.WorkList;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Report cases for decode attention on the CPU: (1) an F16 cache at 1k–128k tokens, Llama-3-8B-like (32 query / 8 KV
 * heads, d = 128) and 8/8 heads, planner's schedule, against the read-only bandwidth probe (bytes = the K and V read);
 * (2) each schedule forced, on balanced (32/8 heads) and imbalanced shapes (batch 1 with 3 or 5 KV heads, so
 * tiles are not a multiple of the workers), to compare lean, split-K and one-pass.
 */
public final class DecodeBenchCases implements BenchCaseProvider {
    @Override
    public List<BenchCase> cases(boolean quick) {
        List<BenchCase> cases = new ArrayList<>();
        int[] contexts = quick ? new int[] {8192} : new int[] {1024, 8192, 32768, 131072};
        for (int ctx : contexts) {
            cases.add(new DecodeCase(32, 8, ctx, DecodePlanner.Schedule.AUTO));
            cases.add(new DecodeCase(8, 8, ctx, DecodePlanner.Schedule.AUTO));
        }
        int[][] shapes = quick ? new int[][] {{12, 3}} : new int[][] {{32, 8}, {12, 3}, {20, 5}};
        for (int[] s : shapes) {
            for (DecodePlanner.Schedule sch : new DecodePlanner.Schedule[] {DecodePlanner.Schedule.ONE_PASS,
                DecodePlanner.Schedule.SPLIT_K, DecodePlanner.Schedule.LEAN}) {
                cases.add(new DecodeCase(s[0], s[1], 32768, sch));
            }
        }
        return cases;
    }

    /** Batch 1, {@code heads}/{@code kvHeads} heads, d = 128, an F16 cache of {@code context} tokens. */
    static final class DecodeCase implements BenchCase {
        private static final int D = 128;
        private final int heads;
        private final int kvHeads;
        private final int context;
        private final DecodePlanner.Schedule schedule;
        private Arena arena;
        private DenseKv kv;
        private WorkList list;
        private MemorySegment q;
        private MemorySegment out;
        private DecodeAttention runner;

        DecodeCase(int heads, int kvHeads, int context, DecodePlanner.Schedule schedule) {
            this.heads = heads;
            this.kvHeads = kvHeads;
            this.context = context;
            this.schedule = schedule;
        }

        @Override
        public String op() {
            return "decode attention f16";
        }

        @Override
        public String shape() {
            return "B1 " + heads + "/" + kvHeads + " heads d128 ctx " + context;
        }

        @Override
        public String impl() {
            return "vector-api x" + WorkerPool.shared().threads() + " " + (list == null ? schedule.name().toLowerCase()
                    : (schedule == DecodePlanner.Schedule.AUTO ? "auto:" : "") + list.schedule());
        }

        @Override
        public double bytes() {
            return (double) context * kvHeads * D * 2 * 2;
        }

        @Override
        public double flops() {
            return 4.0 * context * heads * D;
        }

        @Override
        public Roofline roofline() {
            return Roofline.READ_BW;
        }

        @Override
        public void setup() {
            arena = Arena.ofShared();
            long n = (long) kvHeads * context * D;
            MemorySegment k = arena.allocate(2 * n, 64);
            MemorySegment v = arena.allocate(2 * n, 64);
            java.util.SplittableRandom r = new java.util.SplittableRandom(1);
            for (long i = 0; i < n; i++) {
                k.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) (r.nextDouble() * 2 - 1)));
                v.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) (r.nextDouble() * 2 - 1)));
            }
            q = arena.allocate(4L * heads * D, 64);
            for (int i = 0; i < heads * D; i++) {
                q.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() * 2 - 1));
            }
            out = arena.allocate(4L * heads * D, 64);
            kv = DenseKv.headMajor(k, v, DType.F16, kvHeads, context, D, new int[] {context});
            runner = new DecodeAttention();
            list = DecodePlanner.standard().plan(schedule, DecodeShape.of(kv), runner.workers());
        }

        @Override
        public void run() {
            runner.run(kv, list, heads, (float) (1 / Math.sqrt(D)), q, 0, out, 0);
        }

        @Override
        public void close() {
            if (arena != null) {
                arena.close();
            }
        }
    }
}
