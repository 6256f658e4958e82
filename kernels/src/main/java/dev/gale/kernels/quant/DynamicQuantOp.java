package dev.gale.kernels.quant;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import java.util.List;

/**
 * {@link DynamicQuantU8} as a graph launch: {@code (x F32 [batch, seq, cols], lengths I32 [batch], q U8 [batch, seq,
 * cols], params F32 [batch, 2])}. Devices: {@link DynamicQuantKernels#dynamicQuantParams} (a work group per
 * sentence), then {@link DynamicQuantKernels#dynamicQuantize} (an item per element).
 */
public final class DynamicQuantOp extends KernelOp {
    public static final DynamicQuantOp INSTANCE = new DynamicQuantOp();

    private DynamicQuantOp() {
    }

    @Override
    public String name() {
        return "dynamic-quant-u8";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 4, "(x F32 [batch, seq, cols], lengths I32 [batch], q U8 [batch, seq, cols], params F32 "
                + "[batch, 2])");
        TensorDesc x = tensor(args, 0, "x", DType.F32);
        TensorDesc len = tensor(args, 1, "lengths", DType.I32);
        TensorDesc q = tensor(args, 2, "q", DType.U8);
        TensorDesc p = tensor(args, 3, "params", DType.F32);
        require(x.rank() == 3, "x " + x + " must be [batch, seq, cols]");
        require(java.util.Arrays.equals(x.shape(), q.shape()), "q " + q + " must have x's shape " + x);
        require(len.elementCount() == x.dim(0), "lengths " + len + " must have one entry per sentence");
        require(p.elementCount() == 2 * x.dim(0), "params " + p + " must be [" + x.dim(0) + ", 2]");
    }

    private static int[] shape(LaunchContext ctx) {
        TensorDesc x = ctx.desc(0);
        return new int[] {(int) x.dim(0), (int) x.dim(1), (int) x.dim(2)};
    }

    @Override
    protected void vector(LaunchContext ctx) {
        int[] s = shape(ctx);
        DynamicQuantU8.applyParallel(ctx.segment(0), ctx.segment(1), ctx.segment(2), ctx.segment(3), s[0], s[1], s[2]);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        int[] s = shape(ctx);
        DynamicQuantU8.reference(ctx.segment(0), ctx.segment(1), ctx.segment(2), ctx.segment(3), s[0], s[1], s[2]);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int[] s = shape(ctx);
        int n = Math.multiplyExact(Math.multiplyExact(s[0], s[1]), s[2]);
        return List.of(
                new KernelCall(DynamicQuantKernels.class, "dynamicQuantParams", Grid.of1(s[0] * GROUP, GROUP),
                        ctx.buffer(0), ctx.buffer(1), ctx.buffer(3), s[1], s[2], GROUP),
                new KernelCall(DynamicQuantKernels.class, "dynamicQuantize", elementGrid(n), ctx.buffer(0),
                        ctx.buffer(3), ctx.buffer(2), s[1] * s[2], n));
    }
}
