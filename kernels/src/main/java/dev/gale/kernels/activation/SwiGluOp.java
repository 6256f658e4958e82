package dev.gale.kernels.activation;

import dev.gale.core.buffer.DType;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/** {@code out = silu(gate)·up} element-wise as a graph launch: {@code (gate, up, out)} of one shape. */
public final class SwiGluOp extends KernelOp {
    public static final SwiGluOp INSTANCE = new SwiGluOp();

    private SwiGluOp() {
    }

    @Override
    public String name() {
        return "swiglu";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(gate, up, out)");
        var gate = tensor(args, 0, "gate", DType.F32);
        sameShape("gate and up", gate, tensor(args, 1, "up", DType.F32));
        sameShape("gate and out", gate, tensor(args, 2, "out", DType.F32));
    }

    @Override
    protected void vector(LaunchContext ctx) {
        SwiGlu.applyParallel(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, ctx.desc(0).elementCount());
    }

    @Override
    protected void reference(LaunchContext ctx) {
        SwiGlu.reference(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, ctx.desc(0).elementCount());
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int n = Math.toIntExact(ctx.desc(0).elementCount());
        return List.of(new KernelCall(ActivationKernels.class, "swiGlu", elementGrid(n), ctx.buffer(0),
                ctx.buffer(1), ctx.buffer(2), n));
    }
}
