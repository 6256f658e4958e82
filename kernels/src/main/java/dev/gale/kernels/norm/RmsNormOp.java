package dev.gale.kernels.norm;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/** RMSNorm per row as a graph launch: {@code (X [rows, dim], w [dim], Y [rows, dim])}; Y may be X. */
public final class RmsNormOp extends KernelOp {
    private final float eps;

    public RmsNormOp(float eps) {
        this.eps = eps;
    }

    @Override
    public String name() {
        return "rmsnorm";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(X [rows, dim], w [dim], Y [rows, dim])");
        TensorDesc x = tensor(args, 0, "X", DType.F32);
        TensorDesc w = tensor(args, 1, "w", DType.F32);
        TensorDesc y = tensor(args, 2, "Y", DType.F32);
        sameShape("X and Y", x, y);
        require(w.elementCount() == x.dim(-1), "w " + w + " must have the " + x.dim(-1) + " elements of X's rows");
    }

    @Override
    protected void vector(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        RmsNorm.applyParallel(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, rows(x), lastDim(x), eps);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        RmsNorm.reference(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, rows(x), lastDim(x), eps);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        return List.of(new KernelCall(NormKernels.class, "rmsNorm", rowGroups(rows(x)), ctx.buffer(0),
                ctx.buffer(1), ctx.buffer(2), lastDim(x), eps, GROUP));
    }
}
