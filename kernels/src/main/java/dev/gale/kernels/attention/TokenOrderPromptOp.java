package dev.gale.kernels.attention;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * A prompt fed to a session-owned cache whose contents change as tokens enter it (an H2O cache evicting by
 * counters, a StreamingLLM ring overwriting slots, a KIVI cache quantizing groups as its residual window fills), as
 * a graph launch: {@code (q [T, Hq, d] F32, k [T, Hkv, d] F32, v (same), pos, out [T, Hq, d] F32)}. Token {@code t}
 * enters the cache at position {@code pos + t} and its query then attends over the cache as it stands, in token
 * order: what {@code T} decode steps do, the same operations in the same order (bit for bit when both run at one
 * JIT tier; the folds' {@code reduceLanes} sums differ in their last bits between the interpreter and C2), while the
 * model's matrix products around this launch run once over the whole prompt. Attention over the prompt's own keys (the dense caches' batched prefill) would instead let
 * a token see keys a step-by-step run had already evicted or quantized.
 *
 * <p>Vector API path: the cache's own append and decode, token by token. Device path (KIVI with F16 residual windows;
 * sinks with a RoPE table, whose storage then comes as two more arguments {@code K, V [1, Hkv, slots, d]}): per token,
 * the cache's append kernel for token {@code t}, then its decode launches with query row {@code t}, each token's
 * launches produced only once the previous token's have run, so the host bookkeeping they read (length, ring head,
 * the planner's work list) is the step-by-step one. Each cache's append and decode kernels have their own checks.
 */
public final class TokenOrderPromptOp extends KernelOp {
    /** Token {@code pos}'s keys ({@code [Hkv][d]} F32 at byte {@code kOff}) and values enter the cache. */
    public interface Append {
        void append(MemorySegment k, long kOff, MemorySegment v, long vOff, int pos);
    }

    /** One query ({@code [Hq][d]} F32 at byte {@code qOff}) attends over the cache into {@code out} at {@code outOff}. */
    public interface Attend {
        void attend(MemorySegment q, long qOff, MemorySegment out, long outOff);
    }

    private final String name;
    private final String detail;
    private final AttentionSpec spec;
    private final Append append;
    private final Attend attend;
    /** The device launches of one token, or null: no device path. */
    private final DeviceToken device;
    /** Arguments after the five common ones: 2 when the device path reads the cache's storage as graph tensors. */
    private final int storageArgs;
    private final RowViews queries = new RowViews();
    private final RowViews outputs = new RowViews();

    /** Token {@code t}'s launches: its append, then its query row {@code q} attending into {@code out}. */
    private interface DeviceToken {
        List<KernelCall> launches(Device device, LaunchContext ctx, int t, Buffer q, Buffer out);
    }

    private TokenOrderPromptOp(String name, String detail, AttentionSpec spec, Append append, Attend attend,
            DeviceToken device, int storageArgs) {
        this.name = name;
        this.detail = detail;
        this.spec = spec;
        this.append = append;
        this.attend = attend;
        this.device = device;
        this.storageArgs = storageArgs;
    }

    /** H2O: keys rotated at their positions; the attention updates the counters. */
    public static TokenOrderPromptOp h2o(HeavyHitterKv cache, AttentionSpec spec) {
        return new TokenOrderPromptOp("h2o_prompt", cache.toString(), spec, cache::append,
                (q, qOff, out, outOff) -> cache.decode(spec, q, qOff, out, outOff), null, 0);
    }

    /**
     * StreamingLLM: keys un-rotated (the cache rotates by cache position); the ring may wrap inside the prompt. The
     * launch takes the cache's storage as two more arguments {@code (…, K, V)}, as {@link SinkAttentionOp} does.
     */
    public static TokenOrderPromptOp sinks(SinkWindowKv cache, AttentionSpec spec) {
        SinkAppendOp appendOp = new SinkAppendOp(cache);
        SinkAttentionOp attendOp = new SinkAttentionOp(cache, spec);
        DecodeLaunchBuffers slots = new DecodeLaunchBuffers(1);
        DeviceToken device = cache.rope() == null ? null : (dev, ctx, t, q, out) -> {
            if (ctx.segment(5).address() != cache.keys().address()
                    || ctx.segment(6).address() != cache.values().address()) {
                throw new IllegalArgumentException("sink prompt: K and V must be the cache's own storage");
            }
            // The kernel reads slot[t] for row t of k and v; the host's ring moves one token per launch.
            int[] slot = new int[t + 1];
            slot[t] = cache.window(0).append();
            List<KernelCall> calls = new ArrayList<>();
            calls.add(appendOp.call(ctx.buffer(1), ctx.buffer(2), ctx.buffer(5), ctx.buffer(6),
                    slots.ints(0, "sink.slots", slot), t));
            calls.addAll(attendOp.calls(dev, q, ctx.buffer(5), ctx.buffer(6), out));
            return calls;
        };
        return new TokenOrderPromptOp("sink_prompt", cache.describe(), spec,
                (k, kOff, v, vOff, pos) -> cache.append(0, k, kOff, v, vOff), decodeOver(cache, spec), device, 2);
    }

    /** KIVI: keys rotated; {@code pos} must continue the cache (as {@link KiviAppendOp} checks). */
    public static TokenOrderPromptOp kivi(KiviCache cache, AttentionSpec spec) {
        KiviAppendOp appendOp = new KiviAppendOp(cache);
        CacheAttentionOp attendOp = new CacheAttentionOp(cache, spec);
        DecodeLaunchBuffers lengths = new DecodeLaunchBuffers(1);
        DeviceToken device = cache.residualPrecision() != KvPrecision.F16 ? null : (dev, ctx, t, q, out) -> {
            int pos = ctx.intArg(3);
            if (t == 0) {
                KiviAppendOp.continueAt(cache, pos, (int) ctx.desc(0).dim(0), "kivi_prompt");
            }
            // The kernel appends at lengths[0] + t; the host's length runs ahead to size the attention's work list.
            Buffer before = lengths.ints(0, "kivi.lengths", pos);
            cache.setLength(0, pos + t + 1);
            List<KernelCall> calls = new ArrayList<>();
            calls.add(appendOp.call(ctx.buffer(1), ctx.buffer(2), before, t));
            calls.addAll(attendOp.calls(dev, q, out));
            return calls;
        };
        return new TokenOrderPromptOp("kivi_prompt", cache.describe(), spec, (k, kOff, v, vOff, pos) -> {
            KiviAppendOp.continueAt(cache, pos, 1, "kivi_prompt");
            int row = cache.kvHeads() * cache.headDim();
            // Token-major views whose token 0 is this token: the append reads one token at index 0.
            cache.append(0, HeadView.tokenMajor(k.asSlice(kOff, 4L * row), 0, cache.kvHeads(), cache.headDim()),
                    HeadView.tokenMajor(v.asSlice(vOff, 4L * row), 0, cache.kvHeads(), cache.headDim()), 0);
        }, decodeOver(cache, spec), device, 0);
    }

    /** The family's decode over a one-sequence cache, planned for the cache's current length. */
    private static Attend decodeOver(DecodeKv cache, AttentionSpec spec) {
        DecodePlanner planner = DecodePlanner.standard();
        ThreadLocal<DecodeAttention> runners = ThreadLocal.withInitial(DecodeAttention::new);
        return (q, qOff, out, outOff) -> {
            DecodeAttention runner = runners.get();
            WorkList list = planner.plan(DecodePlanner.Schedule.AUTO, DecodeShape.of(cache), runner.workers());
            runner.run(cache, list, spec.heads(), spec.scale(), q, qOff, out, outOff);
        };
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        return detail + ", each token appended then attending in order";
    }

    @Override
    public List<ImplPath> paths(Device device, List<Arg> args) {
        return device instanceof CpuDevice ? List.of(ImplPath.VECTOR_API) : super.paths(device, args);
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return device != null;
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 5 + storageArgs, "(q [T, Hq, d], k [T, Hkv, d], v [T, Hkv, d], pos, out [T, Hq, d]"
                + (storageArgs > 0 ? ", K, V)" : ")"));
        TensorDesc q = tensor(args, 0, "q", DType.F32);
        TensorDesc k = tensor(args, 1, "k", DType.F32);
        sameShape("k and v", k, tensor(args, 2, "v", DType.F32));
        sameShape("q and out", q, tensor(args, 4, "out", DType.F32));
        require(q.rank() == 3 && q.dim(1) == spec.heads() && q.dim(2) == spec.headDim() && k.rank() == 3
                && k.dim(0) == q.dim(0) && k.dim(1) == spec.kvHeads() && k.dim(2) == spec.headDim(),
                "q " + q + " and k " + k + " must be [T, " + spec.heads() + ", " + spec.headDim() + "] and [T, "
                        + spec.kvHeads() + ", " + spec.headDim() + "]");
    }

    @Override
    protected void vector(LaunchContext ctx) {
        int tokens = (int) ctx.desc(0).dim(0);
        int pos = ctx.intArg(3);
        long qBytes = 4L * spec.heads() * spec.headDim();
        long kvBytes = 4L * spec.kvHeads() * spec.headDim();
        for (int t = 0; t < tokens; t++) {
            append.append(ctx.segment(1), t * kvBytes, ctx.segment(2), t * kvBytes, pos + t);
            attend.attend(ctx.segment(0), t * qBytes, ctx.segment(4), t * qBytes);
        }
    }

    /** Each token's launches, produced as the launcher reaches them (after the previous token's have run). */
    @Override
    protected Iterable<KernelCall> kernelCalls(Device dev, LaunchContext ctx) {
        int tokens = (int) ctx.desc(0).dim(0);
        long row = (long) spec.heads() * spec.headDim();
        Buffer q = ctx.buffer(0);
        Buffer out = ctx.buffer(4);
        return () -> new Iterator<>() {
            private int next;
            private Iterator<KernelCall> current = List.<KernelCall>of().iterator();

            @Override
            public boolean hasNext() {
                while (!current.hasNext() && next < tokens) {
                    current = device.launches(dev, ctx, next, queries.row(q, next, row), outputs.row(out, next, row))
                            .iterator();
                    next++;
                }
                return current.hasNext();
            }

            @Override
            public KernelCall next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return current.next();
            }
        };
    }

    /**
     * Row views {@code [1, H, d]} of a {@code [T, H, d]} buffer, kept while the buffer is the same, so the launcher's
     * per-buffer device mirrors are made once per plan, not once per token and run.
     */
    private static final class RowViews {
        private Buffer source;
        private Buffer[] rows = new Buffer[0];

        synchronized Buffer row(Buffer b, int t, long width) {
            if (b != source || t >= rows.length) {
                if (b != source) {
                    rows = new Buffer[0];
                    source = b;
                }
                rows = Arrays.copyOf(rows, Math.max(t + 1, (int) (b.length() / width)));
            }
            if (rows[t] == null) {
                rows[t] = b.slice(t * width, width);
            }
            return rows[t];
        }
    }

    /** The caches' own references are what their tests hold them to; this op only orders their calls. */
    @Override
    protected void reference(LaunchContext ctx) {
        vector(ctx);
    }
}
