package dev.gale.kernels.attention;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import java.util.List;

/**
 * Decode attention over a session-owned cache of any layout (a KIVI quantized cache; sink caches have
 * {@link SinkAttentionOp}) as a graph launch: {@code (q [1, Hq, d] F32, out [1, Hq, d] F32)}. The cache is not a graph
 * tensor: it keeps its own codes, scales and residual windows, and implements {@link DecodeKv} with its
 * dequantisation fused into the loop; the planner picks the schedule from its lengths each run, and the report names
 * it. The cache's own reference (its {@code dequantize} then {@link AttentionReference}) is what the family's tests
 * hold it to.
 *
 * <p>Device path, for a {@link KiviCache} with F16 residual windows: the planner's work list for the device's workers
 * (segments start on group boundaries: {@link DecodeKv#blockAlign}), {@link KvQuantKernels#kiviDecodePartial} over the
 * cache's own buffers (the launcher mirrors them; on a shared-memory device such as PoCL they are the host memory),
 * then the family's merge.
 */
public final class CacheAttentionOp extends KernelOp {
    private final DecodeKv cache;
    private final AttentionSpec spec;
    private final DecodePlanner planner = DecodePlanner.standard();
    private final ThreadLocal<DecodeAttention> runners = ThreadLocal.withInitial(DecodeAttention::new);
    private final DecodeLaunchBuffers deviceBuffers = new DecodeLaunchBuffers(1);

    public CacheAttentionOp(DecodeKv cache, AttentionSpec spec) {
        if (cache.sequences() != 1 || cache.kvHeads() != spec.kvHeads() || cache.headDim() != spec.headDim()) {
            throw new IllegalArgumentException("cache attention: a one-sequence cache of " + spec.kvHeads()
                    + " KV heads of " + spec.headDim() + " is needed, got " + cache.describe());
        }
        this.cache = cache;
        this.spec = spec;
    }

    @Override
    public String name() {
        return "cache_attention";
    }

    @Override
    public List<ImplPath> paths(Device device, List<Arg> args) {
        if (device instanceof CpuDevice) {
            return hasKernel(args) ? List.of(ImplPath.VECTOR_API, ImplPath.EMULATOR) : List.of(ImplPath.VECTOR_API);
        }
        return super.paths(device, args);
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        return cache.describe() + " kv, schedule auto" + (device instanceof CpuDevice ? ""
                : ", " + DecodeAttentionOp.workers(device) + " workers");
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return cache instanceof KiviCache k && k.residualPrecision() == KvPrecision.F16;
    }

    @Override
    protected List<KernelCall> kernelCalls(Device device, LaunchContext ctx) {
        return calls(device, ctx.buffer(0), ctx.buffer(1));
    }

    /** The device launches for query {@code q} ({@code [1, Hq, d]}) over the cache as it stands, into {@code out}. */
    List<KernelCall> calls(Device device, Buffer q, Buffer out) {
        KiviCache k = (KiviCache) cache;
        KiviLayout layout = k.layout();
        int g = spec.group();
        int d = spec.headDim();
        int local = DecodeAttentionOp.PARTIAL_GROUP;
        DecodeLaunchBuffers.Bound b = deviceBuffers.bind(
                planner.plan(DecodePlanner.Schedule.AUTO, DecodeShape.of(cache), DecodeAttentionOp.workers(device)),
                g, d, device.residentMemory());
        Buffer lengths = deviceBuffers.ints(0, "kivi.lengths", k.length(0));
        return List.of(
                new KernelCall(KvQuantKernels.class, "kiviDecodePartial", Grid.of1(b.list().workers() * local, local),
                        b.segments(), b.workerStart(), q, b.partials(), k.keyCodes(), k.keyScale(),
                        k.keyZero(), k.valueCodes(), k.valueScale(), k.valueZero(), k.keyResidual(),
                        k.valueResidual(), lengths, spec.kvHeads(), d, g, layout.bits(), layout.group(),
                        layout.residual(), k.capacity(), spec.scale(), g * d, g * layout.group(), g),
                DecodeLaunchBuffers.merge(b, out, g, d, elementGrid(b.outputs(g, d))));
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 2, "(q [1, Hq, d], out [1, Hq, d])");
        TensorDesc q = tensor(args, 0, "q", DType.F32);
        TensorDesc out = tensor(args, 1, "out", DType.F32);
        require(q.rank() == 3 && q.dim(0) == 1 && q.dim(1) == spec.heads() && q.dim(2) == spec.headDim(),
                "q " + q + " must be [1, " + spec.heads() + ", " + spec.headDim() + "]");
        sameShape("q and out", q, out);
    }

    @Override
    protected void vector(LaunchContext ctx) {
        DecodeAttention runner = runners.get();
        WorkList list = planner.plan(DecodePlanner.Schedule.AUTO, DecodeShape.of(cache), runner.workers());
        runner.run(cache, list, spec.heads(), spec.scale(), ctx.segment(0), 0, ctx.segment(1), 0);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        vector(ctx);
    }
}
