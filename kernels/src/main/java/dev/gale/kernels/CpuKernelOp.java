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
import java.util.List;

/**
 * The graph face of an op family that runs on the CPU: the Vector API implementation first, the scalar reference on
 * request (for example {@code PlanOptions.forcing(REFERENCE)} in tests). Device kernels join {@link #paths} when a
 * backend can run them. Subclasses check their arguments once, when the launch is added to a graph, so
 * {@link #execute} only reads the bound buffers.
 */
public abstract class CpuKernelOp implements Op {
    private static final List<ImplPath> CPU_PATHS = List.of(ImplPath.VECTOR_API, ImplPath.REFERENCE);

    @Override
    public List<ImplPath> paths(Device device) {
        return device instanceof CpuDevice ? CPU_PATHS : List.of();
    }

    @Override
    public final void execute(ImplPath path, Device device, LaunchContext ctx) {
        switch (path) {
            case VECTOR_API -> vector(ctx);
            case REFERENCE -> reference(ctx);
            default -> throw new GaleException(name() + " has no " + path + " implementation on " + device.id());
        }
    }

    protected abstract void vector(LaunchContext ctx);

    protected abstract void reference(LaunchContext ctx);

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
