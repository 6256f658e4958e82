package dev.gale.kernels.gemm;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import dev.gale.core.graph.TensorParam;
import java.util.List;

/**
 * {@code Y = X·Wᵀ} as a graph launch: arguments {@code (W [out, in] F32|F16, X [tokens, in] F32, Y [tokens, out] F32)}.
 * One token runs the GEMV, more the register-tiled GEMM.
 */
public final class MatMulOp extends KernelOp {
    public static final MatMulOp INSTANCE = new MatMulOp();

    private MatMulOp() {
    }

    @Override
    public String name() {
        return "matmul";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(W [out, in], X [tokens, in], Y [tokens, out])");
        TensorDesc w = tensor(args, 0, "W", DType.F32, DType.F16);
        TensorDesc x = tensor(args, 1, "X", DType.F32);
        TensorDesc y = tensor(args, 2, "Y", DType.F32);
        require(w.rank() == 2 && x.rank() == 2 && y.rank() == 2, "W, X and Y must be matrices: " + w + ", " + x + ", "
                + y);
        require(x.dim(1) == w.dim(1), "X " + x + " has " + x.dim(1) + " inputs but W " + w + " has " + w.dim(1));
        require(y.dim(0) == x.dim(0) && y.dim(1) == w.dim(0), "Y " + y + " must be [" + x.dim(0) + ", " + w.dim(0)
                + "] for X " + x + " and W " + w);
    }

    @Override
    protected void vector(LaunchContext ctx) {
        TensorDesc w = ctx.desc(0);
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        int tokens = (int) ctx.desc(1).dim(0);
        if (w.dtype() == DType.F16) {
            GemmF16.gemm(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, tokens, out, in);
        } else {
            GemmF32.gemm(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, tokens, out, in);
        }
    }

    @Override
    protected void reference(LaunchContext ctx) {
        TensorDesc w = ctx.desc(0);
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        int tokens = (int) ctx.desc(1).dim(0);
        if (w.dtype() == DType.F16) {
            GemmF16.reference(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, tokens, out, in);
        } else {
            GemmF32.reference(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, tokens, out, in);
        }
    }

    /** The device kernels are GEMVs: one token. Prefill GEMM stays on the CPU paths until a tiled kernel exists. */
    @Override
    protected boolean hasKernel(List<Arg> args) {
        return ((TensorParam) args.get(1)).desc().dim(0) == 1;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        TensorDesc w = ctx.desc(0);
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        if (w.dtype() == DType.F16) {
                return List.of(new KernelCall(GemvKernels.class, "gemvF16Group", rowGroups(out), ctx.buffer(0),
                    ctx.buffer(1), ctx.buffer(2), out, in, GROUP));
        }
        return List.of(new KernelCall(GemvKernels.class, "gemvF32Rows16", elementGrid(out), ctx.buffer(0),
                ctx.buffer(1), ctx.buffer(2), out, in));
    }
}
