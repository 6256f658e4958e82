package dev.gale.kernels;

import dev.gale.core.GaleException;
import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.graph.Op;
import dev.gale.core.graph.TensorParam;
import dev.gale.core.emulator.Emulator;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelRunner;
import java.util.List;

/**
 * The graph face of an op family. On the CPU: the Vector API implementation first, then the scalar reference and,
 * for families with a {@code @Kernel}, the grid emulator, both on request (for example
 * {@code PlanOptions.forcing(REFERENCE)} in tests). On a device whose backend has a {@link KernelRunner}: the
 * family's {@code @Kernel}, compiled. A family without a kernel has no path on such a device, so a plan for it fails
 * unless the caller allowed fallback, and then the report says so.
 *
 * <p>Subclasses check their arguments once, when the launch is added to a graph, so {@link #execute} only reads the
 * bound buffers.
 */
public abstract class KernelOp implements Op {
    private static final List<ImplPath> CPU_PATHS = List.of(ImplPath.VECTOR_API, ImplPath.REFERENCE);
    private static final List<ImplPath> CPU_PATHS_WITH_EMULATOR =
            List.of(ImplPath.VECTOR_API, ImplPath.REFERENCE, ImplPath.EMULATOR);
    private static final List<ImplPath> DEVICE_PATHS = List.of(ImplPath.DEVICE_KERNEL);
    private static final Emulator EMULATOR = Emulator.parallel(Runtime.getRuntime().availableProcessors());

    /**
     * Work-group size of the family kernels' launches: one group per row for row-wise ops, one item per element
     * otherwise. 64 keeps every group inside any OpenCL device's limits and lets PoCL vectorise across items.
     */
    protected static final int GROUP = 64;

    /** One item per element, rounded up to whole groups (the kernels bound-check). */
    protected static Grid elementGrid(int n) {
        return Grid.of1((n + GROUP - 1) / GROUP * GROUP, GROUP);
    }

    /** One work group per row. */
    protected static Grid rowGroups(int rows) {
        return Grid.of1(Math.multiplyExact(rows, GROUP), GROUP);
    }

    /** One launch of a {@code @Kernel}: every parameter but the context, constants in place, buffers as Buffers. */
    public record KernelCall(Class<?> owner, String method, Grid grid, Object... args) {
    }

    @Override
    public List<ImplPath> paths(Device device) {
        return device instanceof CpuDevice ? CPU_PATHS : List.of();
    }

    @Override
    public List<ImplPath> paths(Device device, List<Arg> args) {
        if (device instanceof CpuDevice) {
            return hasKernel(args) ? CPU_PATHS_WITH_EMULATOR : CPU_PATHS;
        }
        return hasKernel(args) && device.kernelRunner() != null ? DEVICE_PATHS : List.of();
    }

    @Override
    public final void execute(ImplPath path, Device device, LaunchContext ctx) {
        switch (path) {
            case VECTOR_API -> vector(ctx);
            case REFERENCE -> reference(ctx);
            case EMULATOR -> launch(EMULATOR, device, ctx);
            case DEVICE_KERNEL -> launch(device.kernelRunner(), device, ctx);
            default -> throw new GaleException(name() + " has no " + path + " implementation on " + device.id());
        }
    }

    private void launch(KernelRunner runner, Device device, LaunchContext ctx) {
        for (KernelCall call : kernelCalls(device, ctx)) {
            runner.run(call.owner(), call.method(), call.grid(), call.args());
        }
    }

    protected abstract void vector(LaunchContext ctx);

    protected abstract void reference(LaunchContext ctx);

    /** True when the family has a {@code @Kernel} for this op at these arguments' shapes. */
    protected boolean hasKernel(List<Arg> args) {
        return false;
    }

    /**
     * The kernel launches for this run on {@code device} (the CPU device for the emulator); by default
     * {@link #kernelCalls(LaunchContext)}. Ops whose launch geometry follows the device's capabilities override this.
     * Each launch completes before the next is taken from the iterator, so an op whose later launches depend on host
     * bookkeeping done after earlier ones (a prompt appended and attended token by token) may produce them lazily.
     */
    protected Iterable<KernelCall> kernelCalls(Device device, LaunchContext ctx) {
        return kernelCalls(ctx);
    }

    /** The kernel launches that perform this op for this run; only called when {@link #hasKernel} said so. */
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        throw new GaleException(name() + " has no device kernel");
    }

    // ---- argument checks shared by the ops ----

    protected final void arity(List<Arg> args, int n, String signature) {
        if (args.size() != n) {
            throw new ShapeMismatchException(name() + " takes " + signature + ", got " + args.size() + " arguments");
        }
    }

    /** Argument {@code i} as a tensor of one of {@code dtypes}, named {@code role} in errors. */
    protected final TensorDesc tensor(List<Arg> args, int i, String role, DType... dtypes) {
        if (!(args.get(i) instanceof TensorParam t)) {
            throw new ShapeMismatchException(name() + ": " + role + " (argument " + i + ") must be a tensor, got "
                    + args.get(i).name());
        }
        TensorDesc d = t.desc();
        if (!d.isContiguous()) {
            throw new ShapeMismatchException(name() + ": " + role + " " + t + " must be contiguous");
        }
        for (DType ok : dtypes) {
            if (d.dtype() == ok) {
                return d;
            }
        }
        throw new ShapeMismatchException(name() + ": " + role + " " + t + " must be " + List.of(dtypes));
    }

    protected final void sameShape(String what, TensorDesc a, TensorDesc b) {
        if (!java.util.Arrays.equals(a.shape(), b.shape())) {
            throw new ShapeMismatchException(name() + ": " + what + " differ: " + a + " vs " + b);
        }
    }

    protected final void require(boolean ok, String message) {
        if (!ok) {
            throw new ShapeMismatchException(name() + ": " + message);
        }
    }

    /** Treats a tensor as rows × last dimension. */
    protected static int lastDim(TensorDesc d) {
        return Math.toIntExact(d.dim(-1));
    }

    protected static int rows(TensorDesc d) {
        return Math.toIntExact(d.elementCount() / Math.max(1, d.dim(-1)));
    }
}
