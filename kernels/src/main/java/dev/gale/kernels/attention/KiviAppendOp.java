package dev.gale.kernels.attention;

import dev.gale.core.ShapeMismatchException;
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
 * Quantize-on-append into a one-sequence {@link KiviCache} as a graph launch: {@code (k [T, Hkv, d] F32, v (same),
 * pos)}; token {@code t} becomes cache position {@code pos + t}, which must be the cache's length (a session appends
 * in order; {@code pos} 0 starts a fresh sequence). The Vector API path is {@link KiviCache#append}, the reference
 * {@link KiviCache#appendReference}: the same bits.
 */
public final class KiviAppendOp extends KernelOp {
    private final KiviCache cache;

    public KiviAppendOp(KiviCache cache) {
        this.cache = cache;
    }

    @Override
    public String name() {
        return "kivi_append";
    }

    @Override
    public List<ImplPath> paths(Device device, List<Arg> args) {
        return device instanceof CpuDevice ? List.of(ImplPath.VECTOR_API, ImplPath.REFERENCE) : List.of();
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(k [T, Hkv, d], v [T, Hkv, d], pos)");
        TensorDesc k = tensor(args, 0, "k", DType.F32);
        TensorDesc v = tensor(args, 1, "v", DType.F32);
        sameShape("k and v", k, v);
        require(k.rank() == 3 && k.dim(1) == cache.kvHeads() && k.dim(2) == cache.headDim(), "k " + k
                + " must be [T, " + cache.kvHeads() + ", " + cache.headDim() + "]");
    }

    private void run(LaunchContext ctx, boolean reference) {
        int pos = ctx.intArg(2);
        int tokens = (int) ctx.desc(0).dim(0);
        if (pos == 0) {
            cache.setLength(0, 0);
        }
        if (pos != cache.length(0) || pos + tokens > cache.capacity()) {
            throw new ShapeMismatchException("kivi_append: position " + pos + " but the cache holds "
                    + cache.length(0) + " of " + cache.capacity() + " tokens; appends go in order");
        }
        HeadView k = HeadView.tokenMajor(ctx.segment(0), 0, cache.kvHeads(), cache.headDim());
        HeadView v = HeadView.tokenMajor(ctx.segment(1), 0, cache.kvHeads(), cache.headDim());
        for (int t = 0; t < tokens; t++) {
            if (reference) {
                cache.appendReference(0, k, v, t);
            } else {
                cache.append(0, k, v, t);
            }
        }
    }

    @Override
    protected void vector(LaunchContext ctx) {
        run(ctx, false);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        run(ctx, true);
    }
}
