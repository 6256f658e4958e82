package dev.gale.kernels.attention;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.KernelOp;
import java.util.ArrayList;
import java.util.List;

/**
 * Quantize-on-append into a one-sequence {@link KiviCache} as a graph launch: {@code (k [T, Hkv, d] F32, v (same),
 * pos)}; token {@code t} becomes cache position {@code pos + t}, which must be the cache's length (a session appends
 * in order; {@code pos} 0 starts a fresh sequence). The Vector API path is {@link KiviCache#append}, the reference
 * {@link KiviCache#appendReference}: the same bits.
 */
public final class KiviAppendOp extends KernelOp {
    private final KiviCache cache;
    private final DecodeLaunchBuffers scratch = new DecodeLaunchBuffers(1);

    public KiviAppendOp(KiviCache cache) {
        this.cache = cache;
    }

    @Override
    public String name() {
        return "kivi_append";
    }

    /** The device kernel writes F16 residual windows (an F32 window is the Vector API's alone). */
    @Override
    protected boolean hasKernel(List<Arg> args) {
        return cache.residualPrecision() == KvPrecision.F16;
    }

    /** One {@link KvQuantKernels#kiviAppend} launch per token, in order (a full window quantizes what came before). */
    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int pos = checkedPos(ctx);
        int tokens = (int) ctx.desc(0).dim(0);
        Buffer lengths = scratch.ints(0, "kivi.lengths", pos);
        // The host's length runs ahead of the launches: the kernels read the length before the batch, and the
        // attention launched next sizes its work list from the length after it.
        cache.setLength(0, pos + tokens);
        List<KernelCall> calls = new ArrayList<>(tokens);
        for (int t = 0; t < tokens; t++) {
            calls.add(call(ctx.buffer(0), ctx.buffer(1), lengths, t));
        }
        return calls;
    }

    /** Token {@code token} of {@code k, v} ({@code [T, Hkv, d]}) appended at {@code lengths[0] + token}. */
    KernelCall call(Buffer k, Buffer v, Buffer lengths, int token) {
        KiviLayout layout = cache.layout();
        return new KernelCall(KvQuantKernels.class, "kiviAppend", elementGrid(cache.kvHeads() * cache.headDim()), k,
                v, lengths, cache.keyCodes(), cache.keyScale(), cache.keyZero(), cache.valueCodes(),
                cache.valueScale(), cache.valueZero(), cache.keyResidual(), cache.valueResidual(), token, 1,
                cache.kvHeads(), cache.headDim(), layout.bits(), layout.group(), layout.residual(), cache.capacity(),
                KiviQuantizer.invLevels(layout.levels()));
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(k [T, Hkv, d], v [T, Hkv, d], pos)");
        TensorDesc k = tensor(args, 0, "k", DType.F32);
        TensorDesc v = tensor(args, 1, "v", DType.F32);
        sameShape("k and v", k, v);
        require(k.rank() == 3 && k.dim(1) == cache.kvHeads() && k.dim(2) == cache.headDim(), "k " + k
                + " must be [T, " + cache.kvHeads() + ", " + cache.headDim() + "]");
    }

    /** The position, checked to continue the cache (a fresh sequence at 0 empties it first). */
    private int checkedPos(LaunchContext ctx) {
        int pos = ctx.intArg(2);
        continueAt(cache, pos, (int) ctx.desc(0).dim(0), name());
        return pos;
    }

    /**
     * Checks that {@code tokens} tokens at {@code pos} continue {@code cache}'s one sequence in order and fit; a
     * sequence starting at 0 empties the cache first.
     */
    static void continueAt(KiviCache cache, int pos, int tokens, String op) {
        if (pos == 0) {
            cache.setLength(0, 0);
        }
        if (pos != cache.length(0) || pos + tokens > cache.capacity()) {
            throw new ShapeMismatchException(op + ": position " + pos + " but the cache holds " + cache.length(0)
                    + " of " + cache.capacity() + " tokens; appends go in order");
        }
    }

    private void run(LaunchContext ctx, boolean reference) {
        checkedPos(ctx);
        int tokens = (int) ctx.desc(0).dim(0);
        HeadView k = HeadView.tokenMajor(ctx.segment(0), 0, cache.kvHeads(), cache.headDim());
        HeadView v = HeadView.tokenMajor(ctx.segment(1), 0, cache.kvHeads(), cache.headDim());
        for (int t = 0; t < tokens; t++) {
            if (reference) {
                cache.appendReference(0, k, v, t);
            } else {
                cache.append(0, k, v, t);
            }
        }
    }

    @Override
    protected void vector(LaunchContext ctx) {
        run(ctx, false);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        run(ctx, true);
    }
}
