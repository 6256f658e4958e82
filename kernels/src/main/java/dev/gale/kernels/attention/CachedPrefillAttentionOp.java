package dev.gale.kernels.attention;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Causal attention of a prompt chunk against one sequence's dense cache, as a graph launch:
 * {@code (q [T, Hq, d] F32, K [1, Hkv, capacity, d] F32|F16, V (same), lengths [1] I32, out [T, Hq, d] F32)}. The
 * chunk's own keys are already appended, so the cache holds {@code n = lengths[0]} tokens and query {@code i} sees keys
 * {@code 0 … n − T + i} (bottom-right aligned): a fresh prompt and a prompt continuing a reused prefix alike.
 *
 * <p>The Vector API path is {@link FlashPrefill} reading the cache through head-major {@link HeadView}s; the reference
 * is {@link AttentionReference} in double; devices and the emulator run {@link PrefillKernels#cachedPrefillF32} or
 * {@link PrefillKernels#cachedPrefillF16} with the cached length read from {@code lengths} when the launch is built
 * (as the decode op reads it for its work list).
 */
public final class CachedPrefillAttentionOp extends KernelOp {
    private final AttentionSpec spec;
    private final FlashPrefill flash;

    public CachedPrefillAttentionOp(AttentionSpec spec) {
        if (!spec.causal()) {
            throw new IllegalArgumentException("cached prefill attention is causal");
        }
        this.spec = spec;
        this.flash = new FlashPrefill(spec);
    }

    @Override
    public String name() {
        return "prefill_attention_cached";
    }


    @Override
    public void check(List<Arg> args) {
        arity(args, 5, "(q [T, Hq, d], K [1, Hkv, capacity, d], V, lengths [1], out [T, Hq, d])");
        TensorDesc q = tensor(args, 0, "q", DType.F32);
        TensorDesc k = tensor(args, 1, "K", DType.F32, DType.F16);
        TensorDesc v = tensor(args, 2, "V", DType.F32, DType.F16);
        tensor(args, 3, "lengths", DType.I32);
        TensorDesc out = tensor(args, 4, "out", DType.F32);
        require(q.rank() == 3 && q.dim(1) == spec.heads() && q.dim(2) == spec.headDim(), "q " + q + " must be [T, "
                + spec.heads() + ", " + spec.headDim() + "]");
        sameShape("q and out", q, out);
        sameShape("K and V", k, v);
        require(k.rank() == 4 && k.dim(0) == 1 && k.dim(1) == spec.kvHeads() && k.dim(3) == spec.headDim(),
                "K " + k + " must be [1, " + spec.kvHeads() + ", capacity, " + spec.headDim() + "]");
    }

    @Override
    protected void vector(LaunchContext ctx) {
        run(ctx, false);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        run(ctx, true);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected Iterable<KernelCall> kernelCalls(Device device, LaunchContext ctx) {
        return calls(ctx, PrefillTiles.of(device, spec.headDim()));
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        return calls(ctx, PrefillTiles.DEFAULT);
    }

    private List<KernelCall> calls(LaunchContext ctx, PrefillTiles tiles) {
        TensorDesc k = ctx.desc(1);
        int t = (int) ctx.desc(0).dim(0);
        int n = cached(ctx);
        String kernel = k.dtype() == DType.F16 ? "cachedPrefillF16" : "cachedPrefillF32";
        return List.of(new KernelCall(PrefillKernels.class, kernel, tiles.grid(t, spec.heads(), 1),
                ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), ctx.buffer(4), spec.heads(), spec.kvHeads(),
                (int) k.dim(2), t, n, spec.window(), spec.scale(), spec.headDim(), tiles.br(), tiles.bc()));
    }

    /** The cached length (the chunk's keys included), checked against the chunk and the capacity. */
    private static int cached(LaunchContext ctx) {
        int t = (int) ctx.desc(0).dim(0);
        int n = ctx.segment(3).get(ValueLayout.JAVA_INT_UNALIGNED, 0);
        int capacity = (int) ctx.desc(1).dim(2);
        if (n < t || n > capacity) {
            throw new IllegalStateException("prefill attention: the cache holds " + n + " tokens, fewer than the "
                    + t + " queries or more than its capacity " + capacity);
        }
        return n;
    }

    private void run(LaunchContext ctx, boolean reference) {
        TensorDesc q = ctx.desc(0);
        TensorDesc k = ctx.desc(1);
        int t = (int) q.dim(0);
        int n = cached(ctx);
        int capacity = (int) k.dim(2);
        int d = spec.headDim();
        HeadView qv = HeadView.tokenMajor(ctx.segment(0), 0, spec.heads(), d);
        HeadView kv = HeadView.headMajor(ctx.segment(1), 0, k.dtype(), capacity, d);
        HeadView vv = HeadView.headMajor(ctx.segment(2), 0, k.dtype(), capacity, d);
        HeadView ov = HeadView.tokenMajor(ctx.segment(4), 0, spec.heads(), d);
        if (reference) {
            AttentionReference.attend(spec, qv, kv, vv, ov, t, n, null, 0, null, null);
        } else {
            flash.apply(PrefillBatch.single(t, n), qv, kv, vv, ov, null, 0);
        }
    }
}
