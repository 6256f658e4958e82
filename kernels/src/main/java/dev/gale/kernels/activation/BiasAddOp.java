package dev.gale.kernels.activation;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/** {@code Y[r] += bias} as a graph launch: {@code (Y [rows, cols], bias [cols])}, in place. */
public final class BiasAddOp extends KernelOp {
    public static final BiasAddOp INSTANCE = new BiasAddOp();

    private BiasAddOp() {
    }

    @Override
    public String name() {
        return "bias-add";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 2, "(Y [rows, cols], bias [cols])");
        TensorDesc y = tensor(args, 0, "Y", DType.F32);
        TensorDesc b = tensor(args, 1, "bias", DType.F32);
        require(b.elementCount() == y.dim(-1), "bias " + b + " must have the " + y.dim(-1) + " elements of Y's rows");
    }

    @Override
    protected void vector(LaunchContext ctx) {
        TensorDesc y = ctx.desc(0);
        BiasAdd.applyParallel(ctx.segment(0), 0, ctx.segment(1), 0, rows(y), lastDim(y));
    }

    @Override
    protected void reference(LaunchContext ctx) {
        TensorDesc y = ctx.desc(0);
        BiasAdd.reference(ctx.segment(0), 0, ctx.segment(1), 0, rows(y), lastDim(y));
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        TensorDesc y = ctx.desc(0);
        int n = Math.toIntExact(y.elementCount());
        return List.of(new KernelCall(BiasKernels.class, "biasAdd", elementGrid(n), ctx.buffer(0), ctx.buffer(1),
                lastDim(y), n));
    }
}
