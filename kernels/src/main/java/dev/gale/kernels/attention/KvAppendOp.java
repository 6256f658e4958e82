package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F32;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.FloatConversions;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Appends new tokens to one sequence's dense KV cache as a graph launch:
 * {@code (k [tokens, Hkv, d] F32, v (same), K [1, Hkv, capacity, d] F32|F16, V (same), lengths [1] I32, pos)}. The
 * tokens land at positions {@code pos … pos + tokens − 1} and {@code lengths[0]} becomes {@code pos + tokens}, which
 * {@link DecodeAttentionOp} reads in the same plan, so the position is the only run-time input of a decode step.
 */
public final class KvAppendOp extends KernelOp {
    public static final KvAppendOp INSTANCE = new KvAppendOp();

    private KvAppendOp() {
    }

    @Override
    public String name() {
        return "kv_append";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 6, "(k [tokens, Hkv, d], v [tokens, Hkv, d], K [1, Hkv, capacity, d], V, lengths [1], pos)");
        TensorDesc k = tensor(args, 0, "k", DType.F32);
        TensorDesc v = tensor(args, 1, "v", DType.F32);
        TensorDesc ck = tensor(args, 2, "K", DType.F32, DType.F16);
        TensorDesc cv = tensor(args, 3, "V", DType.F32, DType.F16);
        TensorDesc len = tensor(args, 4, "lengths", DType.I32);
        sameShape("k and v", k, v);
        sameShape("K and V", ck, cv);
        require(ck.dtype() == cv.dtype(), "K and V must have one dtype");
        require(k.rank() == 3 && ck.rank() == 4 && ck.dim(0) == 1 && ck.dim(1) == k.dim(1) && ck.dim(3) == k.dim(2),
                "k " + k + " must be [tokens, Hkv, d] of the cache K " + ck + " = [1, Hkv, capacity, d]");
        require(len.elementCount() == 1, "lengths " + len + " must hold one length");
    }

    private static int checkedPos(LaunchContext ctx) {
        int pos = ctx.intArg(5);
        int tokens = (int) ctx.desc(0).dim(0);
        long capacity = ctx.desc(2).dim(2);
        if (pos < 0 || pos + (long) tokens > capacity) {
            throw new ShapeMismatchException("kv_append: tokens " + pos + ".." + (pos + tokens - 1)
                    + " do not fit the cache's capacity of " + capacity);
        }
        return pos;
    }

    @Override
    protected void vector(LaunchContext ctx) {
        int pos = checkedPos(ctx);
        TensorDesc k = ctx.desc(0);
        TensorDesc ck = ctx.desc(2);
        int tokens = (int) k.dim(0);
        int heads = (int) k.dim(1);
        int d = (int) k.dim(2);
        long capacity = ck.dim(2);
        boolean half = ck.dtype() == DType.F16;
        int eb = half ? 2 : 4;
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                long src = 4L * ((long) t * heads + h) * d;
                long dst = ((long) h * capacity + pos + t) * d * eb;
                copy(ctx.segment(0), src, ctx.segment(2), dst, d, half);
                copy(ctx.segment(1), src, ctx.segment(3), dst, d, half);
            }
        }
        ctx.segment(4).set(ValueLayout.JAVA_INT_UNALIGNED, 0, pos + tokens);
    }

    private static void copy(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, int d, boolean half) {
        if (half) {
            FloatConversions.f32ToF16(src, srcOff, dst, dstOff, d);
        } else {
            MemorySegment.copy(src, srcOff, dst, dstOff, 4L * d);
        }
    }

    @Override
    protected void reference(LaunchContext ctx) {
        int pos = checkedPos(ctx);
        TensorDesc k = ctx.desc(0);
        TensorDesc ck = ctx.desc(2);
        int tokens = (int) k.dim(0);
        int heads = (int) k.dim(1);
        int d = (int) k.dim(2);
        long capacity = ck.dim(2);
        HeadView[] dst = {HeadView.headMajor(ctx.segment(2), 0, ck.dtype(), (int) capacity, d),
            HeadView.headMajor(ctx.segment(3), 0, ck.dtype(), (int) capacity, d)};
        for (int s = 0; s < 2; s++) {
            MemorySegment src = ctx.segment(s);
            for (int t = 0; t < tokens; t++) {
                for (int h = 0; h < heads; h++) {
                    for (int e = 0; e < d; e++) {
                        dst[s].set(pos + t, h, e, src.get(F32, 4L * (((long) t * heads + h) * d + e)));
                    }
                }
            }
        }
        ctx.segment(4).set(ValueLayout.JAVA_INT_UNALIGNED, 0, pos + tokens);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int pos = checkedPos(ctx);
        TensorDesc k = ctx.desc(0);
        TensorDesc ck = ctx.desc(2);
        int n = (int) k.elementCount();
        // The host plans the attention from the length, so the host publishes it: written by the kernel, it would be
        // copied back from a GPU after every append, a wait per layer.
        ctx.segment(4).set(ValueLayout.JAVA_INT_UNALIGNED, 0, pos + (int) k.dim(0));
        return List.of(new KernelCall(KvAppendKernels.class, ck.dtype() == DType.F16 ? "appendF16" : "appendF32",
                elementGrid(Math.max(1, n)), ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), ctx.buffer(3),
                (int) k.dim(0), (int) k.dim(1), (int) ck.dim(2), (int) k.dim(2), pos));
    }
}
