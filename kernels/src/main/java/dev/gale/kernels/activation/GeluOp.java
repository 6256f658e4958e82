package dev.gale.kernels.activation;

import dev.gale.core.buffer.DType;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/** GELU element-wise as a graph launch: {@code (x, out)} of one shape; out may be x. */
public final class GeluOp extends KernelOp {
    private final Gelu.Variant variant;

    public GeluOp(Gelu.Variant variant) {
        this.variant = variant;
    }

    @Override
    public String name() {
        return "gelu-" + variant.name().toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 2, "(x, out)");
        sameShape("x and out", tensor(args, 0, "x", DType.F32), tensor(args, 1, "out", DType.F32));
    }

    @Override
    protected void vector(LaunchContext ctx) {
        Gelu.applyParallel(variant, ctx.segment(0), 0, ctx.segment(1), 0, ctx.desc(0).elementCount());
    }

    @Override
    protected void reference(LaunchContext ctx) {
        Gelu.reference(variant, ctx.segment(0), 0, ctx.segment(1), 0, ctx.desc(0).elementCount());
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int n = Math.toIntExact(ctx.desc(0).elementCount());
        return List.of(new KernelCall(ActivationKernels.class, variant == Gelu.Variant.ERF ? "geluErf" : "geluTanh",
                elementGrid(n), ctx.buffer(0), ctx.buffer(1), n));
    }
}
