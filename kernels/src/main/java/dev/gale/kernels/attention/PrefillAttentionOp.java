package dev.gale.kernels.attention;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Prefill attention of a batch as a graph launch: {@code (Q [totalQ, Hq, d], K [totalK, Hkv, d], V [totalK, Hkv, d],
 * seqs I32 [sequences, 4], out [totalQ, Hq, d])}, or with a U8 key-padding mask {@code [totalK]} (0 = padding)
 * before {@code out}. {@code seqs} is a {@link PrefillBatch} table, read at run time, so one plan serves every batch
 * whose sequences fit the declared tensors. Vector API: {@link FlashPrefill}; reference: {@link FlashPrefill#reference};
 * devices and the emulator: {@link PrefillKernels#flashPrefill} over {@code ⌈maxQueryLen / BR⌉} query blocks per
 * (head, sequence), where {@code maxQueryLen} is the constructor's bound (by default {@code totalQ}, always enough;
 * a tighter bound saves empty work groups in large batches).
 */
public final class PrefillAttentionOp extends KernelOp {
    /** Query rows per work group of the device kernel. */
    public static final int BR = 64;
    /** Keys per staged block of the device kernel. */
    public static final int BC = 32;

    private final AttentionSpec spec;
    private final int maxQueryLen;
    private final ThreadLocal<int[]> tables = ThreadLocal.withInitial(() -> new int[4 * PrefillBatch.FIELDS]);
    private volatile FlashPrefill flash;
    private volatile Buffer noMask;

    public PrefillAttentionOp(AttentionSpec spec) {
        this(spec, Integer.MAX_VALUE);
    }

    /** @param maxQueryLen the longest sequence of queries any run will pass (bounds the device grid) */
    public PrefillAttentionOp(AttentionSpec spec, int maxQueryLen) {
        if (maxQueryLen < 1) {
            throw new IllegalArgumentException("prefill_attention: maxQueryLen must be >= 1, got " + maxQueryLen);
        }
        this.spec = spec;
        this.maxQueryLen = maxQueryLen;
    }

    @Override
    public String name() {
        return "prefill_attention";
    }

    @Override
    public void check(List<Arg> args) {
        require(args.size() == 5 || args.size() == 6, "takes (Q [totalQ, Hq, d], K [totalK, Hkv, d], V, seqs I32 "
                + "[sequences, 4], [mask U8 [totalK],] out [totalQ, Hq, d]), got " + args.size() + " arguments");
        TensorDesc q = tensor(args, 0, "Q", DType.F32);
        TensorDesc k = tensor(args, 1, "K", DType.F32);
        TensorDesc v = tensor(args, 2, "V", DType.F32);
        TensorDesc seqs = tensor(args, 3, "seqs", DType.I32);
        TensorDesc out = tensor(args, args.size() - 1, "out", DType.F32);
        int d = spec.headDim();
        require(q.rank() == 3 && q.dim(1) == spec.heads() && q.dim(2) == d, "Q " + q + " must be [totalQ, "
                + spec.heads() + ", " + d + "]");
        require(k.rank() == 3 && k.dim(1) == spec.kvHeads() && k.dim(2) == d, "K " + k + " must be [totalK, "
                + spec.kvHeads() + ", " + d + "]");
        sameShape("K and V", k, v);
        sameShape("Q and out", q, out);
        require(seqs.rank() == 2 && seqs.dim(1) == PrefillBatch.FIELDS, "seqs " + seqs
                + " must be [sequences, 4] (qStart, qLen, kStart, kLen)");
        if (args.size() == 6) {
            TensorDesc mask = tensor(args, 4, "mask", DType.U8);
            require(mask.elementCount() == k.dim(0), "mask " + mask + " must have one byte per key token ("
                    + k.dim(0) + ")");
        }
    }

    private boolean masked(LaunchContext ctx) {
        return ctx.desc(4).dtype() == DType.U8;
    }

    private int outArg(LaunchContext ctx) {
        return masked(ctx) ? 5 : 4;
    }

    /** The run's table, read into per-thread scratch and checked against the declared tensors. */
    private int[] table(LaunchContext ctx) {
        int n = Math.toIntExact(ctx.desc(3).dim(0));
        int[] t = tables.get();
        if (t.length < n * PrefillBatch.FIELDS) {
            t = new int[n * PrefillBatch.FIELDS];
            tables.set(t);
        }
        PrefillBatch.read(ctx.segment(3), n, t);
        long totalQ = ctx.desc(0).dim(0);
        long totalK = ctx.desc(1).dim(0);
        for (int s = 0; s < n; s++) {
            int b = s * PrefillBatch.FIELDS;
            require((long) t[b] + t[b + 1] <= totalQ && (long) t[b + 2] + t[b + 3] <= totalK && t[b + 1] <= maxQueryLen,
                    "sequence " + s + " (" + t[b] + " +" + t[b + 1] + " queries, " + t[b + 2] + " +" + t[b + 3]
                    + " keys) is outside Q [" + totalQ + "], K [" + totalK + "] or maxQueryLen " + maxQueryLen);
        }
        return t;
    }

    private HeadView view(LaunchContext ctx, int i, int heads) {
        return HeadView.tokenMajor(ctx.segment(i), 0, heads, spec.headDim());
    }

    @Override
    protected void vector(LaunchContext ctx) {
        FlashPrefill f = flash;
        if (f == null) {
            synchronized (this) {
                f = flash;
                if (f == null) {
                    flash = f = new FlashPrefill(spec);
                }
            }
        }
        int[] t = table(ctx);
        f.apply(t, Math.toIntExact(ctx.desc(3).dim(0)), view(ctx, 0, spec.heads()), view(ctx, 1, spec.kvHeads()),
                view(ctx, 2, spec.kvHeads()), view(ctx, outArg(ctx), spec.heads()),
                masked(ctx) ? ctx.segment(4) : null, 0);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        int n = Math.toIntExact(ctx.desc(3).dim(0));
        int[] t = table(ctx);
        PrefillBatch batch = PrefillBatch.of(java.util.Arrays.copyOf(t, n * PrefillBatch.FIELDS));
        FlashPrefill.reference(spec, batch, view(ctx, 0, spec.heads()), view(ctx, 1, spec.kvHeads()),
                view(ctx, 2, spec.kvHeads()), view(ctx, outArg(ctx), spec.heads()),
                masked(ctx) ? ctx.segment(4) : null, 0);
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
        int sequences = Math.toIntExact(ctx.desc(3).dim(0));
        int rows = (int) Math.min(maxQueryLen, ctx.desc(0).dim(0));
        if (sequences == 0 || rows == 0) {
            return List.of();
        }
        Buffer mask = masked(ctx) ? ctx.buffer(4) : noMask();
        return List.of(new KernelCall(PrefillKernels.class, "flashPrefill", tiles.grid(rows, spec.heads(), sequences),
                ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), ctx.buffer(3), mask, ctx.buffer(outArg(ctx)),
                spec.heads(), spec.kvHeads(), spec.causal() ? 1 : 0, spec.window(), spec.scale(),
                masked(ctx) ? 1 : 0, spec.headDim(), tiles.br(), tiles.bc()));
    }

    /** The kernel's geometry at the default tiles for queries up to {@code maxQueryLen} per sequence. */
    public static Grid grid(int maxQueryLen, int heads, int sequences) {
        return PrefillTiles.DEFAULT.grid(maxQueryLen, heads, sequences);
    }

    private Buffer noMask() {
        Buffer b = noMask;
        if (b == null) {
            synchronized (this) {
                b = noMask;
                if (b == null) {
                    noMask = b = Buffers.allocate("prefill.nomask", DType.U8, 1);
                }
            }
        }
        return b;
    }

    /** Convenience for callers outside a graph: the table of {@code batch} as an I32 buffer. */
    public static Buffer tableBuffer(PrefillBatch batch) {
        Buffer b = Buffers.allocate("prefill.seqs", DType.I32, (long) batch.sequences() * PrefillBatch.FIELDS);
        MemorySegment seg = b.segment();
        batch.writeTo(seg);
        return b;
    }
}
