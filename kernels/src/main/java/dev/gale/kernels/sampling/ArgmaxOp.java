package dev.gale.kernels.sampling;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.graph.TensorParam;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.ValueLayout;
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
    protected Iterable<KernelCall> kernelCalls(Device device, LaunchContext ctx) {
        int group = group(device);
        return List.of(new KernelCall(SamplingKernels.class, "argmax", Grid.of1(group, group), ctx.buffer(0),
                ctx.buffer(1), lastDim(ctx.desc(0)), group));
    }

    /**
     * Items in the one work group: on a GPU as many as a group holds, up to 1024 (a power of two), since a vocab row
     * in 64 items left one SM scanning 2000 values per item (1 ms of a 1B decode step on an H200); 64 elsewhere.
     */
    static int group(Device device) {
        if (device.capabilities().type() != DeviceType.GPU) {
            return GROUP;
        }
        return Math.max(GROUP, Integer.highestOneBit((int) Math.min(1024, device.capabilities().maxWorkGroupSize())));
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        return device instanceof CpuDevice ? "" : "one work group of " + group(device) + " items";
    }
}
