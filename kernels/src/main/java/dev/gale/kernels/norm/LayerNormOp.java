package dev.gale.kernels.norm;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/** LayerNorm per row as a graph launch: {@code (X [rows, dim], g [dim], b [dim], Y [rows, dim])}; Y may be X. */
public final class LayerNormOp extends KernelOp {
    private final float eps;

    public LayerNormOp(float eps) {
        this.eps = eps;
    }

    @Override
    public String name() {
        return "layernorm";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 4, "(X [rows, dim], g [dim], b [dim], Y [rows, dim])");
        TensorDesc x = tensor(args, 0, "X", DType.F32);
        TensorDesc g = tensor(args, 1, "g", DType.F32);
        TensorDesc b = tensor(args, 2, "b", DType.F32);
        sameShape("X and Y", x, tensor(args, 3, "Y", DType.F32));
        require(g.elementCount() == x.dim(-1) && b.elementCount() == x.dim(-1), "g " + g + " and b " + b
                + " must have the " + x.dim(-1) + " elements of X's rows");
    }

    @Override
    protected void vector(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        LayerNorm.applyParallel(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, ctx.segment(3), 0, rows(x),
                lastDim(x), eps);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        LayerNorm.reference(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, ctx.segment(3), 0, rows(x),
                lastDim(x), eps);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        return List.of(new KernelCall(NormKernels.class, "layerNorm", rowGroups(rows(x)), ctx.buffer(0),
                ctx.buffer(1), ctx.buffer(2), ctx.buffer(3), lastDim(x), eps, GROUP));
    }
}
