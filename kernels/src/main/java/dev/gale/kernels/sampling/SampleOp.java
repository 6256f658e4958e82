package dev.gale.kernels.sampling;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Temperature and top-p sampling as a graph launch: {@code (logits [1, vocab] F32, probs [1, vocab] F32 scratch,
 * ids [1] I32, coin float scalar)}. Temperature and top-p are fixed per op (a session's settings); the coin changes
 * every step and is drawn on the host ({@link Xorshift}), so every device samples the same token for one seed.
 */
public final class SampleOp extends KernelOp {
    /** Items of the one work group: enough to hide PoCL's per-item overhead, few enough for one barrier round. */
    private static final int SAMPLE_GROUP = 256;
    private final float temperature;
    private final float topP;
    private final ThreadLocal<int[]> candidates = new ThreadLocal<>();

    public SampleOp(float temperature, float topP) {
        if (!(temperature > 0) || Float.isInfinite(temperature) || !(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("sample: temperature must be finite and > 0 (argmax is the "
                    + "temperature-0 op) and top-p in (0, 1]; got " + temperature + ", " + topP);
        }
        this.temperature = temperature;
        this.topP = topP;
    }

    @Override
    public String name() {
        return "sample";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 4, "(logits [1, vocab], probs [1, vocab], ids [1], coin)");
        TensorDesc x = tensor(args, 0, "logits", DType.F32);
        TensorDesc p = tensor(args, 1, "probs", DType.F32);
        TensorDesc ids = tensor(args, 2, "ids", DType.I32);
        require(rows(x) == 1 && x.elementCount() == p.elementCount(), "logits " + x + " must be one row and probs "
                + p + " the same size");
        require(ids.elementCount() == 1, "ids " + ids + " must hold one id");
    }

    private float coin(LaunchContext ctx) {
        float c = ctx.floatArg(3);
        if (!(c >= 0 && c < 1)) {
            throw new IllegalArgumentException("sample: the coin must be in [0, 1), got " + c);
        }
        return c;
    }

    @Override
    protected void vector(LaunchContext ctx) {
        int n = lastDim(ctx.desc(0));
        int[] cand = candidates.get();
        if (cand == null || cand.length < n) {
            cand = new int[n];
            candidates.set(cand);
        }
        int id = NucleusSampler.apply(ctx.segment(0), 0, n, temperature, topP, coin(ctx), ctx.segment(1), cand);
        ctx.segment(2).set(ValueLayout.JAVA_INT_UNALIGNED, 0, id);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        int n = lastDim(ctx.desc(0));
        int id = NucleusSampler.reference(ctx.segment(0), 0, n, temperature, topP, coin(ctx));
        ctx.segment(2).set(ValueLayout.JAVA_INT_UNALIGNED, 0, id);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        return List.of(new KernelCall(SampleKernels.class, "sample", Grid.of1(SAMPLE_GROUP, SAMPLE_GROUP),
                ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), lastDim(ctx.desc(0)), 1f / temperature, topP,
                coin(ctx), SAMPLE_GROUP));
    }
}
