package dev.gale.kernels.gemm;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.graph.TensorParam;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
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

    /** Work-group shape and input slice of the tiled GEMM kernel (each item holds a 2×2 register tile). */
    private static final int TILE_X = 16;
    private static final int TILE_Y = 4;
    private static final int TILE_K = 16;

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    /** Which device kernel a launch takes (the CPU paths need no words: the report names them). */
    @Override
    public String detail(Device device, List<Arg> args) {
        if (device instanceof CpuDevice) {
            return "";
        }
        boolean half = ((TensorParam) args.get(0)).desc().dtype() == DType.F16;
        long tokens = ((TensorParam) args.get(1)).desc().dim(0);
        int group = GemvGeometry.groupPerRow(device);
        return "device kernel: " + kernel(half, tokens, group)
                + (tokens == 1 ? " " + GemvGeometry.describe(group) : "");
    }

    /**
     * The device kernel for F16 or F32 weights and a token count; {@code group} is {@link GemvGeometry}'s choice for
     * the device (0: one item per row). The launches and the report both take the name from here.
     */
    private static String kernel(boolean half, long tokens, int group) {
        if (tokens != 1) {
            return half ? "gemmF16Tiled" : "gemmF32Tiled";
        }
        if (group > 0) {
            return half ? "gemvF16Group" : "gemvF32Group";
        }
        return half ? "gemvF16Rows" : "gemvF32Rows16";
    }

    /** One token on a GPU: a work group per row ({@link GemvGeometry}); elsewhere the generic launches. */
    @Override
    protected Iterable<KernelCall> kernelCalls(Device device, LaunchContext ctx) {
        int group = GemvGeometry.groupPerRow(device);
        if (group == 0 || (int) ctx.desc(1).dim(0) != 1) {
            return kernelCalls(ctx);
        }
        TensorDesc w = ctx.desc(0);
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        return List.of(new KernelCall(GemvKernels.class, kernel(w.dtype() == DType.F16, 1, group),
                GemvGeometry.rowGroups(out, group), ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), out, in, group));
    }

    /** One token: the rows-per-item GEMV; more: the local-memory-tiled GEMM. */
    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        TensorDesc w = ctx.desc(0);
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        int tokens = (int) ctx.desc(1).dim(0);
        boolean half = w.dtype() == DType.F16;
        if (tokens == 1) {
            return List.of(new KernelCall(GemvKernels.class, kernel(half, 1, 0), elementGrid(out), ctx.buffer(0),
                    ctx.buffer(1), ctx.buffer(2), out, in));
        }
        Grid grid = Grid.of2((out + 2 * TILE_X - 1) / (2 * TILE_X) * TILE_X,
                (tokens + 2 * TILE_Y - 1) / (2 * TILE_Y) * TILE_Y, TILE_X, TILE_Y);
        return List.of(new KernelCall(GemmKernels.class, kernel(half, tokens, 0), grid, ctx.buffer(0), ctx.buffer(1),
                ctx.buffer(2), tokens, out, in, TILE_X, TILE_Y, TILE_K));
    }
}
