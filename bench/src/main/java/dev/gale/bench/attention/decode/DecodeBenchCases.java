package dev.gale.bench.attention.decode;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.Roofline;
import dev.gale.bench.report.Table;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.attention.DecodeAttention;
import dev.gale.kernels.attention.DecodePlanner;
import dev.gale.kernels.attention.DecodeShape;
import dev.gale.kernels.attention.DenseKv;
import dev.gale.kernels.attention.ScheduleModel;
import dev.gale.kernels.attention.WorkList;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;

/**
 * Report cases for decode attention on the CPU: (1) an F16 cache at 1k–128k tokens, Llama-3-8B-like (32 query / 8 KV
 * heads, d = 128) and 8/8 heads, planner's schedule, against the read-only bandwidth probe (bytes = the K and V read);
 * (2) each schedule forced, on balanced (32/8 heads) and imbalanced shapes (batch 1 with 3 or 5 KV heads, so
 * tiles are not a multiple of the workers), to compare lean, split-K and one-pass; (3) a table that checks the
 * {@link ScheduleModel} against measurement: per shape, each schedule timed in this process (interleaved rounds,
 * medians), the measured time ratios beside the model's makespan ratios, and the model's predictions for a 108-SM and
 * a 132-SM GPU at 512k context beside LeanAttention's published 8.33× over FlashAttention-2 (papers.md §3.3).
 */
public final class DecodeBenchCases implements BenchCaseProvider {
    static final String MODEL_TABLE = "decode attention schedules: model vs measured";

    @Override
    public List<Table> tables(boolean quick, Predicate<String> wanted) {
        if (!wanted.test(MODEL_TABLE)) {
            return List.of();
        }
        int ctx = quick ? 8192 : 32768;
        int rounds = quick ? 5 : 15;
        ScheduleModel model = ScheduleModel.DEFAULT;
        List<List<String>> rows = new ArrayList<>();
        for (int[] s : new int[][] {{32, 8}, {12, 3}, {20, 5}, {8, 8}}) {
            DecodePlanner.Schedule[] all = {DecodePlanner.Schedule.ONE_PASS, DecodePlanner.Schedule.SPLIT_K,
                DecodePlanner.Schedule.LEAN};
            DecodeCase[] cases = new DecodeCase[all.length];
            double[][] times = new double[all.length][rounds];
            try {
                for (int i = 0; i < all.length; i++) {
                    cases[i] = new DecodeCase(s[0], s[1], ctx, all[i]);
                    cases[i].setup();
                    for (int w = 0; w < 5; w++) {
                        cases[i].run();
                    }
                }
                // Interleaved rounds: load from other processes hits every schedule alike.
                for (int r = 0; r < rounds; r++) {
                    for (int i = 0; i < all.length; i++) {
                        long t0 = System.nanoTime();
                        cases[i].run();
                        times[i][r] = System.nanoTime() - t0;
                    }
                }
            } finally {
                for (DecodeCase c : cases) {
                    if (c != null) {
                        c.close();
                    }
                }
            }
            int workers = WorkerPool.shared().threads();
            double[] modelled = model.makespans(DecodeShape.uniform(1, s[1], ctx, 128), workers);
            double[] med = new double[all.length];
            for (int i = 0; i < all.length; i++) {
                double[] t = times[i].clone();
                Arrays.sort(t);
                med[i] = t[t.length / 2];
            }
            rows.add(List.of("B1 " + s[0] + "/" + s[1] + " heads d128 ctx " + ctx, "x" + workers,
                    String.format("%.2f ms / %.2f ms / %.2f ms", med[0] / 1e6, med[1] / 1e6, med[2] / 1e6),
                    String.format("%.2f", med[0] / med[2]), String.format("%.2f", modelled[0] / modelled[2]),
                    String.format("%.2f", Math.min(med[0], med[1]) / med[2]),
                    String.format("%.2f", Math.min(modelled[0], modelled[1]) / modelled[2])));
        }
        for (dev.gale.core.device.Device dev : dev.gale.core.device.Devices.all()) {
            if (dev.kernelRunner() != null && !(dev instanceof dev.gale.core.cpu.CpuDevice)) {
                rows.add(deviceRow(dev, model, quick));
            }
        }
        for (int sms : new int[] {108, 132}) {
            // One resident work group per SM, as the model's worker (ORT runs 2 per SM; the ratio is what matters).
            double[] m = model.gpu(1, 8, 512 * 1024, 128, sms);
            rows.add(List.of("GPU model: B1 32/8 heads (8 tiles) d128 BLOCK_N 128 ctx 512k", sms + " SMs", "-",
                    "-", String.format("%.2f", m[0] / m[2]), "-", String.format("%.2f", Math.min(m[0], m[1]) / m[2])));
        }
        return List.of(new Table(MODEL_TABLE, List.of("shape", "workers",
                "median one-pass / split-K / lean", "one-pass ÷ lean measured", "one-pass ÷ lean model",
                "best other ÷ lean measured", "best other ÷ lean model"), rows, List.of(
                "Measured: each schedule's whole decode call timed in this process, " + rounds
                        + " interleaved rounds, median; > 1 means lean is faster.",
                "Model: ScheduleModel.DEFAULT makespans (block cost 1, 0.02 per segment, 0.02 per merged slot).",
                "LeanAttention v1 reports up to 8.33x over FlashAttention-2 (one-pass) at 512k on A100 (108 SMs),"
                        + " papers.md 3.3; FlashDecoding (split-K) is the 'best other' column's baseline there.")));
    }
    /**
     * One-pass vs lean through the graph op on a device at 12/3 heads (3 tiles for the device's work groups), the
     * model given the device's worker count.
     */
    private static List<String> deviceRow(dev.gale.core.device.Device device, ScheduleModel model, boolean quick) {
        int heads = 12;
        int kvHeads = 3;
        int d = 128;
        int ctx = quick ? 4096 : 16384;
        int rounds = quick ? 3 : 7;
        DecodePlanner.Schedule[] all = {DecodePlanner.Schedule.ONE_PASS, DecodePlanner.Schedule.LEAN};
        double[] med = new double[all.length];
        long n = (long) kvHeads * ctx * d;
        try (dev.gale.core.buffer.Buffer k = dev.gale.core.buffer.Buffers.allocate("k", DType.F16, n);
             dev.gale.core.buffer.Buffer v = dev.gale.core.buffer.Buffers.allocate("v", DType.F16, n);
             dev.gale.core.buffer.Buffer q = dev.gale.core.buffer.Buffers.allocate("q", DType.F32, (long) heads * d);
             dev.gale.core.buffer.Buffer out = dev.gale.core.buffer.Buffers.allocate("out", DType.F32,
                     (long) heads * d);
             dev.gale.core.buffer.Buffer len = dev.gale.core.buffer.Buffers.allocate("len", DType.I32, 1)) {
            java.util.SplittableRandom r = new java.util.SplittableRandom(2);
            for (long i = 0; i < n; i++) {
                k.segment().setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) r.nextGaussian()));
                v.segment().setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) r.nextGaussian()));
            }
            len.setInt(0, ctx);
            for (int i = 0; i < all.length; i++) {
                dev.gale.core.graph.TaskGraph g = new dev.gale.core.graph.TaskGraph("decode " + all[i]);
                var qp = g.tensor("q", DType.F32, 1, heads, d);
                var kp = g.tensor("k", DType.F16, 1, kvHeads, ctx, d);
                var vp = g.tensor("v", DType.F16, 1, kvHeads, ctx, d);
                var lp = g.tensor("len", DType.I32, 1);
                var op = g.tensor("out", DType.F32, 1, heads, d);
                g.launch("attention", new dev.gale.kernels.attention.DecodeAttentionOp(
                        dev.gale.kernels.attention.AttentionSpec.of(heads, kvHeads, d, false), all[i]),
                        qp, kp, vp, lp, op);
                dev.gale.core.graph.Plan plan = g.compile(device);
                try (dev.gale.core.graph.Bindings b = plan.newBindings()) {
                    b.bind(qp, q).bind(kp, k).bind(vp, v).bind(lp, len).bind(op, out);
                    plan.run(b);
                    double[] t = new double[rounds];
                    for (int j = 0; j < rounds; j++) {
                        long t0 = System.nanoTime();
                        plan.run(b);
                        t[j] = System.nanoTime() - t0;
                    }
                    Arrays.sort(t);
                    med[i] = t[rounds / 2];
                }
            }
        } catch (RuntimeException e) {
            return List.of(device.id() + " B1 12/3 heads", "-", "failed: " + e.getMessage(), "-", "-", "-", "-");
        }
        int workers = DecodePlanner.deviceWorkers(device.capabilities());
        double[] m = model.makespans(DecodeShape.uniform(1, kvHeads, ctx, d), workers);
        return List.of(device.id() + " B1 12/3 heads d128 ctx " + ctx, workers + " work groups",
                String.format("%.2f ms / - / %.2f ms", med[0] / 1e6, med[1] / 1e6),
                String.format("%.2f", med[0] / med[1]), String.format("%.2f", m[0] / m[2]), "-", "-");
    }

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
