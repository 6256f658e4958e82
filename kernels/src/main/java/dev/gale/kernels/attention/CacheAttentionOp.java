package dev.gale.kernels.attention;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/**
 * Decode attention over a session-owned cache of any layout (a KIVI quantized cache; sink caches have
 * {@link SinkAttentionOp}, which also runs on devices) as a graph launch: {@code (q [1, Hq, d] F32, out [1, Hq, d]
 * F32)}. The cache is not a graph tensor: it keeps its own codes,
 * scales and residual windows, and implements {@link DecodeKv} with its dequantisation fused into the loop; the
 * planner picks the schedule from its lengths each run, and the report names it. The Vector API path only: the
 * cache's own reference (its {@code dequantize} then {@link AttentionReference}) is what the family's tests hold it to.
 */
public final class CacheAttentionOp extends KernelOp {
    private final DecodeKv cache;
    private final AttentionSpec spec;
    private final DecodePlanner planner = DecodePlanner.standard();
    private final ThreadLocal<DecodeAttention> runners = ThreadLocal.withInitial(DecodeAttention::new);

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
        return device instanceof CpuDevice ? List.of(ImplPath.VECTOR_API) : List.of();
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        return cache.describe() + " kv, schedule auto";
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
