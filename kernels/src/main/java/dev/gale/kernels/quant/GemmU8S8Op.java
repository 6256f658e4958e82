package dev.gale.kernels.quant;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import java.util.List;

/**
 * {@link GemmU8S8} as a graph launch: {@code (q U8 [batch, seq, in], params F32 [batch, 2], W I8 [in, out],
 * wScale F32 [out], bias F32 [out], Y F32 [batch, seq, out])}. Device: {@link DynamicQuantKernels#gemmU8S8}.
 */
public final class GemmU8S8Op extends KernelOp {
    public static final GemmU8S8Op INSTANCE = new GemmU8S8Op();

    private GemmU8S8Op() {
    }

    @Override
    public String name() {
        return "gemm-u8s8";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 6, "(q U8 [batch, seq, in], params F32 [batch, 2], W I8 [in, out], wScale F32 [out], bias F32 "
                + "[out], Y F32 [batch, seq, out])");
        TensorDesc q = tensor(args, 0, "q", DType.U8);
        TensorDesc p = tensor(args, 1, "params", DType.F32);
        TensorDesc w = tensor(args, 2, "W", DType.I8);
        TensorDesc ws = tensor(args, 3, "wScale", DType.F32);
        TensorDesc b = tensor(args, 4, "bias", DType.F32);
        TensorDesc y = tensor(args, 5, "Y", DType.F32);
        require(q.rank() == 3 && y.rank() == 3 && w.rank() == 2, "q " + q + " and Y " + y
                + " must be [batch, seq, n], W " + w + " [in, out]");
        require(q.dim(2) == w.dim(0) && q.dim(2) <= GemmU8S8.MAX_IN, "q " + q + " has " + q.dim(2)
                + " inputs, W " + w + " " + w.dim(0) + " (at most " + GemmU8S8.MAX_IN + ")");
        require(y.dim(0) == q.dim(0) && y.dim(1) == q.dim(1) && y.dim(2) == w.dim(1), "Y " + y + " must be ["
                + q.dim(0) + ", " + q.dim(1) + ", " + w.dim(1) + "]");
        require(ws.elementCount() == w.dim(1) && b.elementCount() == w.dim(1), "wScale " + ws + " and bias " + b
                + " must have " + w.dim(1) + " elements");
        require(p.elementCount() == 2 * q.dim(0), "params " + p + " must be [" + q.dim(0) + ", 2]");
    }

    private static int[] shape(LaunchContext ctx) {
        TensorDesc q = ctx.desc(0);
        TensorDesc w = ctx.desc(2);
        return new int[] {Math.toIntExact(q.dim(0) * q.dim(1)), (int) q.dim(1), (int) w.dim(0), (int) w.dim(1)};
    }

    @Override
    protected void vector(LaunchContext ctx) {
        int[] s = shape(ctx);
        GemmU8S8.applyParallel(ctx.segment(0), ctx.segment(1), ctx.segment(2), ctx.segment(3), ctx.segment(4),
                ctx.segment(5), s[0], s[1], s[2], s[3]);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        int[] s = shape(ctx);
        GemmU8S8.reference(ctx.segment(0), ctx.segment(1), ctx.segment(2), ctx.segment(3), ctx.segment(4),
                ctx.segment(5), s[0], s[1], s[2], s[3]);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int[] s = shape(ctx);
        return List.of(new KernelCall(DynamicQuantKernels.class, "gemmU8S8", grid(s[0], s[3]), ctx.buffer(0),
                ctx.buffer(1), ctx.buffer(2), ctx.buffer(3), ctx.buffer(4), ctx.buffer(5), s[0], s[1], s[2], s[3]));
    }

    /** {@link DynamicQuantKernels#gemmU8S8}'s geometry: columns by groups of 64, rows by blocks of four. */
    public static Grid grid(int rows, int out) {
        int blocks = (rows + DynamicQuantKernels.GEMM_ROWS - 1) / DynamicQuantKernels.GEMM_ROWS;
        return Grid.of2((out + GROUP - 1) / GROUP * GROUP, blocks, GROUP, 1);
    }
}
