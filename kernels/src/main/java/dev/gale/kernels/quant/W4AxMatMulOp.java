package dev.gale.kernels.quant;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Locale;

/**
 * {@code Y = X·Wᵀ} with {@link W4Weights} and activations quantized per token per 128-channel block on the fly
 * (W4A4, W4A8 or FMPQ's mix): arguments {@code (W [out, width/2] U8 codes, X [tokens, in] F32, Y [tokens, out] F32)}.
 * One op belongs to one weight matrix and holds it with its scales and its {@link ChannelBlocks} layout; {@code X}
 * arrives in the layout's channel order (the FMPQ permutation was folded into the producer offline), so the op
 * quantizes each block from one contiguous range of {@code X} (padding with zeros where the layout says) and runs
 * {@link W4AxMatmul}: the Vector API kernel on the CPU, its double reference on request. Given the matrix repacked
 * into the decode layout ({@link W4Packed}, as {@link QuantMatMulOp} holds {@link Q4_0Lanes}), one token runs the
 * packed GEMV; more tokens run the GEMM over the import layout.
 *
 * <p>The activation buffer is per thread (one plan may run from several threads) and grows to the largest token
 * count seen; after that a run allocates nothing. Matrices that read one vector (a layer's wq, wk, wv) can share it
 * through a {@link QuantizedInput} that the RMSNorm before them fills ({@code RmsNormQuantOp}), so the vector is
 * quantized once; an op reading a shared input that was not filled from its {@code X} quantizes {@code X} itself. No device kernel yet: {@link W4AxKernels} has the matmul but the
 * per-block activation quantization has no kernel, so plans on an OpenCL device refuse this op (or fall back to the
 * CPU when the caller allows it, and the run report says so).
 */
public final class W4AxMatMulOp extends KernelOp {
    private final W4Weights w;
    private final W4Packed decode;
    private final ChannelBlocks layout;
    /** Where {@code X}'s quantization comes from: this op's own buffer, or one its producer fills for several. */
    private final QuantizedInput input;
    private final boolean shared;

    /** An op over the import layout only (every token count runs {@link W4AxMatmul}). */
    public W4AxMatMulOp(W4Weights w, ChannelBlocks layout) {
        this(w, null, layout);
    }

    /**
     * An op whose one-token (decode) runs use {@code decode}, {@code w} repacked by {@link W4Packed#pack} (null:
     * none); the caller owns the packed segments' lifetime, as for {@link QuantMatMulOp}.
     */
    public W4AxMatMulOp(W4Weights w, W4Packed decode, ChannelBlocks layout) {
        this(w, decode, layout, null);
    }

    /**
     * As {@link #W4AxMatMulOp(W4Weights, W4Packed, ChannelBlocks)}, reading {@code X}'s quantization from
     * {@code input} when its producer (an RMSNorm fused with the quantizer) filled it from the same tensor, so
     * matrices that share an input quantize it once; null: this op quantizes {@code X} itself.
     */
    public W4AxMatMulOp(W4Weights w, W4Packed decode, ChannelBlocks layout, QuantizedInput input) {
        if (input != null && !QuantizedInput.sameQuantization(input.layout(), layout)) {
            throw new dev.gale.core.ShapeMismatchException("W4Ax matmul: the shared input is quantized as "
                    + input.layout() + ", this matrix reads " + layout);
        }
        if (decode != null && (decode.rows() != w.rows() || decode.in() != w.in())) {
            throw new dev.gale.core.ShapeMismatchException("W4Ax matmul: packed decode weights are " + decode.rows()
                    + "x" + decode.in() + ", the weights " + w.rows() + "x" + w.in());
        }
        if (w.in() != layout.width()) {
            throw new dev.gale.core.ShapeMismatchException("W4Ax matmul: weights have " + w.in()
                    + " columns, the channel layout " + layout.width() + " (" + layout + ")");
        }
        this.w = w;
        this.decode = decode;
        this.layout = layout;
        this.shared = input != null;
        this.input = shared ? input : new QuantizedInput(layout);
    }

    public W4Weights weights() {
        return w;
    }

    public ChannelBlocks layout() {
        return layout;
    }

    /** {@code w4a4}, {@code w4a8} or {@code w4a4+a8 (FMPQ)} by the precision map. */
    public String scheme() {
        int b8 = layout.eightBitBlocks();
        return b8 == 0 ? "W4A4" : b8 == layout.blocks() ? "W4A8" : "W4A4/A8";
    }

    @Override
    public String name() {
        return "matmul_w4ax";
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        return String.format(Locale.ROOT, "%s g%d, %d/%d channels A8 in %d/%d blocks%s, %s%s", scheme(), w.group(),
                layout.eightBitChannels(), layout.in(), layout.eightBitBlocks(), layout.blocks(),
                layout.padded() ? " (zero-padded to " + layout.width() + ")" : "",
                !W4AxMatmul.VECTOR_OK ? "scalar (no 256/512-bit vectors)" : decode != null
                        && oneToken(args) ? "packed 4-row GEMV" : "exact int piece dots in F32 lanes",
                shared ? ", input quantized by its RMSNorm" : "");
    }

    /** Whether the launch is one token (the packed decode GEMV runs it). */
    private static boolean oneToken(List<Arg> args) {
        return args.size() > 1 && args.get(1) instanceof TensorParam t && t.desc().dim(0) == 1;
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(W [out, width/2] U8 codes, X [tokens, in], Y [tokens, out])");
        TensorDesc wd = tensor(args, 0, "W", DType.U8);
        TensorDesc x = tensor(args, 1, "X", DType.F32);
        TensorDesc y = tensor(args, 2, "Y", DType.F32);
        require(wd.rank() == 2 && wd.dim(0) == w.rows() && wd.dim(1) == w.in() / 2, "W " + wd + " must be ["
                + w.rows() + ", " + w.in() / 2 + "] bytes: the codes of the " + w.rows() + "x" + w.in()
                + " weight this op holds");
        require(x.rank() == 2 && x.dim(1) == layout.in(), "X " + x + " must be [tokens, " + layout.in() + "]");
        require(y.rank() == 2 && y.dim(0) == x.dim(0) && y.dim(1) == w.rows(), "Y " + y + " must be [" + x.dim(0)
                + ", " + w.rows() + "]");
    }

    /**
     * {@code X} quantized: by the shared input's producer when it filled this thread's buffer from {@code X},
     * else here.
     */
    private ActivationQuant quantize(LaunchContext ctx, boolean reference) {
        int tokens = (int) ctx.desc(1).dim(0);
        MemorySegment x = ctx.segment(1);
        ActivationQuant a = shared ? input.filledFrom(x, tokens) : null;
        if (a == null) {
            a = input.fill(x, tokens);
            if (reference) {
                a.quantizeReference(x, 0, tokens, layout);
            } else {
                a.quantize(x, 0, tokens, layout);
            }
        }
        return a;
    }

    @Override
    protected void vector(LaunchContext ctx) {
        ActivationQuant a = quantize(ctx, false);
        if (decode != null && a.tokens() == 1) {
            decode.gemvParallel(a, ctx.segment(2), 0);
        } else {
            W4AxMatmul.matmulParallel(w, a, ctx.segment(2), 0);
        }
    }

    @Override
    protected void reference(LaunchContext ctx) {
        W4AxMatmul.reference(w, quantize(ctx, true), ctx.segment(2), 0);
    }
}
