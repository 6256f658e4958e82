package dev.gale.kernels.activation;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/** Row-wise softmax as a graph launch: {@code (X [rows, dim], Y [rows, dim], scale)}; scale is a float. */
public final class SoftmaxOp extends KernelOp {
    public static final SoftmaxOp INSTANCE = new SoftmaxOp();

    private SoftmaxOp() {
    }

    @Override
    public String name() {
        return "softmax";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(X [rows, dim], Y [rows, dim], scale)");
        sameShape("X and Y", tensor(args, 0, "X", DType.F32), tensor(args, 1, "Y", DType.F32));
    }

    @Override
    protected void vector(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        Softmax.applyParallel(ctx.segment(0), 0, ctx.segment(1), 0, rows(x), lastDim(x), ctx.floatArg(2));
    }

    @Override
    protected void reference(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        Softmax.reference(ctx.segment(0), 0, ctx.segment(1), 0, rows(x), lastDim(x), ctx.floatArg(2));
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        return List.of(new KernelCall(ActivationKernels.class, "softmax", rowGroups(rows(x)), ctx.buffer(0),
                ctx.buffer(1), lastDim(x), ctx.floatArg(2), GROUP));
    }
}
