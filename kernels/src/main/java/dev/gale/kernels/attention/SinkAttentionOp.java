package dev.gale.kernels.attention;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import java.util.List;

/**
 * Decode attention over a one-sequence StreamingLLM cache ({@link SinkWindowKv}) as a graph launch:
 * {@code (q [1, Hq, d] F32, K [1, Hkv, slots, d] F32|F16, V (same), out [1, Hq, d] F32)}, where {@code K} and
 * {@code V} are the cache's own storage (the plan then orders this after the append, and a device mirrors them).
 * Keys are rotated by their cache position inside the score loop, the query by the last position.
 *
 * <p>Vector API path: the cache's fused fold under the planner's schedule. Device path (a cache with a RoPE table):
 * the planner's work list for the device's workers, {@link SinkKernels#sinkDecodeF32}/{@code F16} over it with the
 * host's ring head and length for this run, then the family's merge. The run report names the schedule.
 */
public final class SinkAttentionOp extends KernelOp {
    private final SinkWindowKv cache;
    private final AttentionSpec spec;
    private final DecodePlanner planner = DecodePlanner.standard();
    private final ThreadLocal<DecodeAttention> runners = ThreadLocal.withInitial(DecodeAttention::new);
    private final DecodeLaunchBuffers deviceBuffers = new DecodeLaunchBuffers(2);
    /** cos/sin per (slot position, pair) for the device kernel, built on first device use. */
    private volatile Buffer[] tables;

    public SinkAttentionOp(SinkWindowKv cache, AttentionSpec spec) {
        if (cache.sequences() != 1 || cache.kvHeads() != spec.kvHeads() || cache.headDim() != spec.headDim()) {
            throw new IllegalArgumentException("sink attention: a one-sequence cache of " + spec.kvHeads()
                    + " KV heads of " + spec.headDim() + " is needed, got " + cache.describe());
        }
        this.cache = cache;
        this.spec = spec;
    }

    @Override
    public String name() {
        return "sink_attention";
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        return cache.describe() + " kv, schedule auto, " + DecodeAttentionOp.workers(device) + " workers";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 4, "(q [1, Hq, d], K [1, Hkv, slots, d], V, out [1, Hq, d])");
        TensorDesc q = tensor(args, 0, "q", DType.F32);
        TensorDesc k = tensor(args, 1, "K", cache.dtype());
        TensorDesc v = tensor(args, 2, "V", cache.dtype());
        TensorDesc out = tensor(args, 3, "out", DType.F32);
        require(q.rank() == 3 && q.dim(0) == 1 && q.dim(1) == spec.heads() && q.dim(2) == spec.headDim(),
                "q " + q + " must be [1, " + spec.heads() + ", " + spec.headDim() + "]");
        sameShape("q and out", q, out);
        sameShape("K and V", k, v);
        require(k.elementCount() == (long) cache.kvHeads() * cache.capacity() * cache.headDim(),
                "K " + k + " must be the cache's " + cache.capacity() + " slots");
    }

    @Override
    protected void vector(LaunchContext ctx) {
        DecodeAttention runner = runners.get();
        WorkList list = planner.plan(DecodePlanner.Schedule.AUTO, DecodeShape.of(cache), runner.workers());
        runner.run(cache, list, spec.heads(), spec.scale(), ctx.segment(0), 0, ctx.segment(3), 0);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        cache.reference(0, spec, ctx.segment(0), 0, ctx.segment(3), 0, null);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return cache.rope() != null;
    }

    @Override
    protected List<KernelCall> kernelCalls(Device device, LaunchContext ctx) {
        return calls(device, ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), ctx.buffer(3));
    }

    /**
     * The device launches for query {@code q} ({@code [1, Hq, d]}) over the cache's storage {@code keys, values} as
     * the ring stands, into {@code out}.
     */
    List<KernelCall> calls(Device device, Buffer q, Buffer keys, Buffer values, Buffer out) {
        int g = spec.group();
        int d = spec.headDim();
        int group = DecodeAttentionOp.PARTIAL_GROUP;
        DecodeLaunchBuffers.Bound b = deviceBuffers.bind(
                planner.plan(DecodePlanner.Schedule.AUTO, DecodeShape.of(cache), DecodeAttentionOp.workers(device)),
                g, d, device.residentMemory());
        SinkWindow w = cache.window(0);
        Buffer lengths = deviceBuffers.ints(0, "sink.lengths", w.length());
        Buffer ringHeads = deviceBuffers.ints(1, "sink.ringHeads", w.head());
        Buffer[] t = tables();
        String kernel = cache.dtype() == DType.F16 ? "sinkDecodeF16" : "sinkDecodeF32";
        return List.of(
                new KernelCall(SinkKernels.class, kernel, Grid.of1(b.list().workers() * group, group), b.segments(),
                        b.workerStart(), q, keys, values, t[0], t[1], lengths, ringHeads,
                        b.partials(), spec.kvHeads(), w.sinks(), w.window(), spec.scale(), g, d,
                        cache.rope().layout() == RopeLayout.HALF_SPLIT ? 1 : 0, group),
                DecodeLaunchBuffers.merge(b, out, g, d, elementGrid(b.outputs(g, d))));
    }

    private Buffer[] tables() {
        Buffer[] t = tables;
        if (t == null) {
            synchronized (this) {
                if (tables == null) {
                    RopeTable rope = cache.rope();
                    tables = new Buffer[] {pairTable("sink.cos", rope, cache.capacity(), true),
                        pairTable("sink.sin", rope, cache.capacity(), false)};
                }
                t = tables;
            }
        }
        return t;
    }

    /**
     * The table the sink kernels read: {@code cos} (or {@code sin}) of pair {@code i} at position {@code p} at
     * {@code p·d/2 + i}, for positions {@code [0, positions)}, whatever the table's own layout.
     */
    public static Buffer pairTable(String name, RopeTable rope, int positions, boolean cos) {
        int half = rope.headDim() / 2;
        float[] t = new float[positions * half];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                t[p * half + i] = cos ? rope.cos(p, i) : rope.sin(p, i);
            }
        }
        // Read-only: a device with its own memory copies it once, not before every launch.
        return Buffers.f32(name, t).readOnly();
    }
}
