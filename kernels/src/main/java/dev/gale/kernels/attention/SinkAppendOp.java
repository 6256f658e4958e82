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
 * Appends {@code T} tokens in order to a one-sequence {@link SinkWindowKv} as a graph launch:
 * {@code (k [T, Hkv·d] F32, v (same))}, keys un-rotated (the cache rotates them by their cache position when it is
 * read). Each slot comes from the cache's {@link SinkWindow}: a sink slot for the first tokens, then the ring slot of
 * the oldest window token.
 */
public final class SinkAppendOp extends KernelOp {
    private final SinkWindowKv cache;

    public SinkAppendOp(SinkWindowKv cache) {
        if (cache.sequences() != 1) {
            throw new IllegalArgumentException("sink append: one sequence per cache, got " + cache.sequences());
        }
        this.cache = cache;
    }

    @Override
    public String name() {
        return "sink_append";
    }

    @Override
    public List<ImplPath> paths(Device device, List<Arg> args) {
        return device instanceof CpuDevice ? List.of(ImplPath.VECTOR_API) : List.of();
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 2, "(k [T, Hkv·d], v [T, Hkv·d])");
        TensorDesc k = tensor(args, 0, "k", DType.F32);
        TensorDesc v = tensor(args, 1, "v", DType.F32);
        sameShape("k and v", k, v);
        long token = (long) cache.kvHeads() * cache.headDim();
        require(k.elementCount() > 0 && k.elementCount() % token == 0, "k " + k + " must hold whole tokens of "
                + cache.kvHeads() + " heads of " + cache.headDim());
    }

    @Override
    protected void vector(LaunchContext ctx) {
        long tokenBytes = 4L * cache.kvHeads() * cache.headDim();
        long tokens = ctx.desc(0).elementCount() * 4 / tokenBytes;
        for (long t = 0; t < tokens; t++) {
            cache.append(0, ctx.segment(0), t * tokenBytes, ctx.segment(1), t * tokenBytes);
        }
    }

    @Override
    protected void reference(LaunchContext ctx) {
        vector(ctx);
    }
}
