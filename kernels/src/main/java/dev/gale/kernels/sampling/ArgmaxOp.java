package dev.gale.kernels.sampling;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.ValueLayout;
import dev.gale.core.graph.TensorParam;
import java.util.List;

/** Greedy sampling as a graph launch: {@code (logits [rows, vocab] F32, ids [rows] I32)}, the first maximum per row. */
public final class ArgmaxOp extends KernelOp {
    public static final ArgmaxOp INSTANCE = new ArgmaxOp();

    private ArgmaxOp() {
    }

    @Override
    public String name() {
        return "argmax";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 2, "(logits [rows, vocab], ids [rows])");
        TensorDesc x = tensor(args, 0, "logits", DType.F32);
        TensorDesc ids = tensor(args, 1, "ids", DType.I32);
        require(ids.elementCount() == rows(x), "ids " + ids + " must have one entry per row of logits " + x);
    }

    @Override
    protected void vector(LaunchContext ctx) {
        run(ctx, false);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        run(ctx, true);
    }

    private static void run(LaunchContext ctx, boolean reference) {
        TensorDesc x = ctx.desc(0);
        int vocab = lastDim(x);
        var logits = ctx.segment(0);
        var ids = ctx.segment(1);
        for (int r = 0, rows = rows(x); r < rows; r++) {
            long off = (long) r * vocab * Float.BYTES;
            int id = reference ? Argmax.reference(logits, off, vocab) : Argmax.apply(logits, off, vocab);
            ids.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, r, id);
        }
    }

    /** The device kernel reduces one row in one work group; batched rows stay on the CPU paths. */
    @Override
    protected boolean hasKernel(List<Arg> args) {
        return rows(((TensorParam) args.get(0)).desc()) == 1;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        return List.of(new KernelCall(SamplingKernels.class, "argmax", rowGroups(1), ctx.buffer(0), ctx.buffer(1),
                lastDim(ctx.desc(0)), GROUP));
    }
}
