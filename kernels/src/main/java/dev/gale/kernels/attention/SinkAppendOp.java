package dev.gale.kernels.attention;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.ArrayList;
import java.util.List;

/**
 * Appends {@code T} tokens in order to a one-sequence {@link SinkWindowKv} as a graph launch:
 * {@code (k [T, Hkv·d] F32, v (same), K [1, Hkv, slots, d] F32|F16, V (same))}, keys un-rotated (the cache rotates
 * them by their cache position when it is read). {@code K} and {@code V} are the cache's own storage, passed so the
 * plan sees the write (and a device mirrors it). Each slot comes from the cache's {@link SinkWindow}: a sink slot for
 * the first tokens, then the ring slot of the oldest window token.
 *
 * <p>Device path: the addressing stays on the host ({@link SinkWindow#append} per token as the launch is issued);
 * {@link SinkKernels#sinkAppendF32}/{@code F16} move the data, one launch per token so that a prompt that wraps the
 * window leaves each slot with its latest token.
 */
public final class SinkAppendOp extends KernelOp {
    private final SinkWindowKv cache;
    private final DecodeLaunchBuffers slots = new DecodeLaunchBuffers(1);

    public SinkAppendOp(SinkWindowKv cache) {
        if (cache.sequences() != 1) {
            throw new IllegalArgumentException("sink append: one sequence per cache, got " + cache.sequences());
        }
        this.cache = cache;
    }

    @Override
    public String name() {
        return "sink_append";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 4, "(k [T, Hkv·d], v [T, Hkv·d], K [1, Hkv, slots, d], V)");
        TensorDesc k = tensor(args, 0, "k", DType.F32);
        TensorDesc v = tensor(args, 1, "v", DType.F32);
        TensorDesc ck = tensor(args, 2, "K", cache.dtype());
        TensorDesc cv = tensor(args, 3, "V", cache.dtype());
        sameShape("k and v", k, v);
        sameShape("K and V", ck, cv);
        long token = (long) cache.kvHeads() * cache.headDim();
        require(k.elementCount() > 0 && k.elementCount() % token == 0, "k " + k + " must hold whole tokens of "
                + cache.kvHeads() + " heads of " + cache.headDim());
        require(ck.elementCount() == token * cache.capacity(), "K " + ck + " must be the cache's "
                + cache.capacity() + " slots of " + cache.kvHeads() + " heads of " + cache.headDim());
    }

    @Override
    protected void vector(LaunchContext ctx) {
        requireCacheStorage(ctx);
        long tokenBytes = 4L * cache.kvHeads() * cache.headDim();
        long tokens = ctx.desc(0).elementCount() * 4 / tokenBytes;
        for (long t = 0; t < tokens; t++) {
            cache.append(0, ctx.segment(0), t * tokenBytes, ctx.segment(1), t * tokenBytes);
        }
    }

    @Override
    protected void reference(LaunchContext ctx) {
        vector(ctx);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        requireCacheStorage(ctx);
        int row = cache.kvHeads() * cache.headDim();
        int tokens = (int) (ctx.desc(0).elementCount() / row);
        int[] slot = new int[tokens];
        for (int t = 0; t < tokens; t++) {
            slot[t] = cache.window(0).append();
        }
        Buffer s = slots.ints(0, "sink.slots", slot);
        List<KernelCall> calls = new ArrayList<>(tokens);
        for (int t = 0; t < tokens; t++) {
            calls.add(call(ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), ctx.buffer(3), s, t));
        }
        return calls;
    }

    /** Token {@code token} of {@code k, v} ({@code [T, Hkv·d]}) into slot {@code slots[token]} of the storage. */
    KernelCall call(Buffer k, Buffer v, Buffer keys, Buffer values, Buffer slots, int token) {
        String kernel = cache.dtype() == DType.F16 ? "sinkAppendF16" : "sinkAppendF32";
        return new KernelCall(SinkKernels.class, kernel, elementGrid(cache.kvHeads() * cache.headDim()), k, v, keys,
                values, slots, token, cache.kvHeads(), cache.kvHeads(), cache.capacity(), cache.headDim());
    }

    /** The host bookkeeping and the kernels both assume K and V are the cache's memory; a mismatch is a wiring bug. */
    private void requireCacheStorage(LaunchContext ctx) {
        if (ctx.segment(2).address() != cache.keys().address()
                || ctx.segment(3).address() != cache.values().address()) {
            throw new IllegalArgumentException("sink append: K and V must be the cache's own storage");
        }
    }
}
