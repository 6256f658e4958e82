package dev.gale.kernels.activation;

import dev.gale.core.buffer.DType;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/** {@code out = a + b} element-wise as a graph launch: {@code (a, b, out)} of one shape; out may be a. */
public final class ResidualAddOp extends KernelOp {
    public static final ResidualAddOp INSTANCE = new ResidualAddOp();

    private ResidualAddOp() {
    }

    @Override
    public String name() {
        return "residual-add";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(a, b, out)");
        var a = tensor(args, 0, "a", DType.F32);
        sameShape("a and b", a, tensor(args, 1, "b", DType.F32));
        sameShape("a and out", a, tensor(args, 2, "out", DType.F32));
    }

    @Override
    protected void vector(LaunchContext ctx) {
        ResidualAdd.applyParallel(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, ctx.desc(0).elementCount());
    }

    @Override
    protected void reference(LaunchContext ctx) {
        ResidualAdd.reference(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, ctx.desc(0).elementCount());
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int n = Math.toIntExact(ctx.desc(0).elementCount());
        return List.of(new KernelCall(ActivationKernels.class, "residualAdd", elementGrid(n), ctx.buffer(0),
                ctx.buffer(1), ctx.buffer(2), n));
    }
}
