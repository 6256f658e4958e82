package dev.gale.kernels.norm;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.QuantizedInput;
import java.util.List;
import java.util.Locale;

/**
 * {@link RmsNormQuant} as a graph launch: {@code (X [rows, dim], w [dim], H [rows, dim])}, writing {@code H} as
 * {@link RmsNormOp} does and quantizing it into {@code input} for the W4Ax matmuls built over that
 * {@link QuantizedInput}, which then read the quantization instead of quantizing {@code H} each. CPU only (the W4Ax
 * matmuls it feeds have no device path either).
 */
public final class RmsNormQuantOp extends KernelOp {
    private final float eps;
    private final QuantizedInput input;
    private final int readers;

    /** @param readers how many matmuls read {@code input} (for the run report) */
    public RmsNormQuantOp(float eps, QuantizedInput input, int readers) {
        this.eps = eps;
        this.input = input;
        this.readers = readers;
    }

    @Override
    public String name() {
        return "rmsnorm_quant";
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        int b8 = input.layout().eightBitBlocks();
        return String.format(Locale.ROOT, "RMSNorm fused with the %s activation quantizer, shared by %d matmuls",
                b8 == 0 ? "A4" : b8 == input.layout().blocks() ? "A8" : "A4/A8", readers);
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(X [rows, dim], w [dim], H [rows, dim])");
        TensorDesc x = tensor(args, 0, "X", DType.F32);
        TensorDesc w = tensor(args, 1, "w", DType.F32);
        TensorDesc h = tensor(args, 2, "H", DType.F32);
        sameShape("X and H", x, h);
        require(w.elementCount() == x.dim(-1), "w " + w + " must have the " + x.dim(-1) + " elements of X's rows");
        require(x.dim(-1) == input.layout().in(), "X " + x + " rows must have the " + input.layout().in()
                + " channels of the quantized input's layout");
    }

    @Override
    protected void vector(LaunchContext ctx) {
        int tokens = rows(ctx.desc(0));
        ActivationQuant q = input.fill(ctx.segment(2), tokens);
        RmsNormQuant.applyParallel(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, tokens, eps,
                input.layout(), q);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        int tokens = rows(ctx.desc(0));
        ActivationQuant q = input.fill(ctx.segment(2), tokens);
        RmsNormQuant.reference(ctx.segment(0), 0, ctx.segment(1), 0, ctx.segment(2), 0, tokens, eps,
                input.layout(), q);
    }
}
