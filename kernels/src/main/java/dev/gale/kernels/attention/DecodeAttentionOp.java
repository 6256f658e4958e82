package dev.gale.kernels.attention;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.graph.TensorParam;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import java.util.List;

/**
 * Decode attention as a graph launch: {@code (q [B, Hq, d] F32, K [B, Hkv, capacity, d] F32|F16, V (same),
 * lengths [B] I32, out [B, Hq, d] F32)}; sequence {@code b} attends to its first {@code lengths[b]} cached tokens.
 * The lengths are read at run time, so one plan serves every decode step. The schedule is fixed at construction or
 * {@link DecodePlanner.Schedule#AUTO}; the plan and run report name it (for {@code AUTO}: the planner's choice at full
 * capacity; each run applies the same rule to the actual lengths).
 *
 * <p>Device path: the work list is built on the host from the lengths (a host-readable lengths buffer, as on
 * shared-memory devices), with {@link DecodePlanner#deviceWorkers} work groups, then the precision's partial kernel
 * and the shared merge kernel run.
 */
public final class DecodeAttentionOp extends KernelOp {
    /** Work-group size of the partial kernels: tokens per stage. */
    static final int PARTIAL_GROUP = 64;

    private final AttentionSpec spec;
    private final DecodePlanner.Schedule schedule;
    private final DecodePlanner planner = DecodePlanner.standard();
    /** Per-thread runner and device scratch: plans run concurrently, and a decode step should not reallocate. */
    private final ThreadLocal<DecodeAttention> runners = ThreadLocal.withInitial(DecodeAttention::new);
    private final DecodeLaunchBuffers deviceBuffers = new DecodeLaunchBuffers(0);

    public DecodeAttentionOp(AttentionSpec spec, DecodePlanner.Schedule schedule) {
        if (spec.window() != 0) {
            throw new IllegalArgumentException("decode attention: windows are the sink/ring caches' business");
        }
        this.spec = spec;
        this.schedule = schedule;
    }

    @Override
    public String name() {
        return "decode_attention";
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 5, "(q [B, Hq, d], K [B, Hkv, capacity, d], V [B, Hkv, capacity, d], lengths [B], out [B, Hq, d])");
        TensorDesc q = tensor(args, 0, "q", DType.F32);
        TensorDesc k = tensor(args, 1, "K", DType.F32, DType.F16);
        TensorDesc v = tensor(args, 2, "V", DType.F32, DType.F16);
        TensorDesc len = tensor(args, 3, "lengths", DType.I32);
        TensorDesc out = tensor(args, 4, "out", DType.F32);
        require(q.rank() == 3 && q.dim(1) == spec.heads() && q.dim(2) == spec.headDim(),
                "q " + q + " must be [B, " + spec.heads() + ", " + spec.headDim() + "]");
        sameShape("q and out", q, out);
        require(k.rank() == 4 && k.dim(0) == q.dim(0) && k.dim(1) == spec.kvHeads() && k.dim(3) == spec.headDim(),
                "K " + k + " must be [B, " + spec.kvHeads() + ", capacity, " + spec.headDim() + "]");
        sameShape("K and V", k, v);
        require(k.dtype() == v.dtype(), "K and V must have one dtype");
        require(len.rank() == 1 && len.dim(0) == q.dim(0), "lengths " + len + " must be [B]");
    }

    private static TensorDesc desc(List<Arg> args, int i) {
        return ((TensorParam) args.get(i)).desc();
    }

    /** Workers of a launch on {@code device}: pool threads on the CPU, resident work groups on a device. */
    static int workers(Device device) {
        return device instanceof CpuDevice ? WorkerPool.shared().threads()
                : DecodePlanner.deviceWorkers(device.capabilities());
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        TensorDesc k = desc(args, 1);
        int w = workers(device);
        DecodeShape atCapacity = DecodeShape.uniform((int) k.dim(0), spec.kvHeads(), (int) k.dim(2), spec.headDim());
        String chosen = planner.plan(schedule, atCapacity, w).schedule();
        return (schedule == DecodePlanner.Schedule.AUTO ? "schedule auto → " : "schedule ") + chosen + ", " + w
                + " workers, " + k.dtype().name().toLowerCase() + " kv";
    }

    private DenseKv kv(LaunchContext ctx) {
        TensorDesc k = ctx.desc(1);
        int batch = (int) k.dim(0);
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            lengths[b] = ctx.buffer(3).getInt(b);
        }
        return DenseKv.headMajor(ctx.segment(1), ctx.segment(2), k.dtype(), spec.kvHeads(), (int) k.dim(2),
                spec.headDim(), lengths);
    }

    @Override
    protected void vector(LaunchContext ctx) {
        DenseKv kv = kv(ctx);
        DecodeAttention runner = runners.get();
        WorkList list = planner.plan(schedule, DecodeShape.of(kv), runner.workers());
        runner.run(kv, list, spec.heads(), spec.scale(), ctx.segment(0), 0, ctx.segment(4), 0);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        DecodeAttention.reference(kv(ctx), spec, ctx.segment(0), 0, ctx.segment(4), 0);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(Device device, LaunchContext ctx) {
        DenseKv kv = kv(ctx);
        int g = spec.group();
        int d = spec.headDim();
        DecodeLaunchBuffers.Bound b = deviceBuffers.bind(planner.plan(schedule, DecodeShape.of(kv), workers(device)),
                g, d, device.residentMemory());
        TensorDesc k = ctx.desc(1);
        String partial = k.dtype() == DType.F16 ? "partialF16" : "partialF32";
        return List.of(
                new KernelCall(DecodeKernels.class, partial,
                        Grid.of1(b.list().workers() * PARTIAL_GROUP, PARTIAL_GROUP), b.segments(), b.workerStart(),
                        ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), b.partials(), spec.kvHeads(), (int) k.dim(2),
                        spec.scale(), g, d, PARTIAL_GROUP),
                DecodeLaunchBuffers.merge(b, ctx.buffer(4), g, d, elementGrid(b.outputs(g, d))));
    }
}
