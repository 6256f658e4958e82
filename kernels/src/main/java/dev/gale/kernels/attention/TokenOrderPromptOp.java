package dev.gale.kernels.attention;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A prompt fed to a session-owned cache whose contents change as tokens enter it (an H2O cache evicting by
 * counters, a StreamingLLM ring overwriting slots, a KIVI cache quantizing groups as its residual window fills), as
 * a graph launch: {@code (q [T, Hq, d] F32, k [T, Hkv, d] F32, v (same), pos, out [T, Hq, d] F32)}. Token {@code t}
 * enters the cache at position {@code pos + t} and its query then attends over the cache as it stands, in token
 * order: what {@code T} decode steps do, bit for bit, while the model's matrix products around this launch run once
 * over the whole prompt. Attention over the prompt's own keys (the dense caches' batched prefill) would instead let
 * a token see keys a step-by-step run had already evicted or quantized.
 *
 * <p>The Vector API path only: each cache's append and decode have their own tests against references.
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

    private TokenOrderPromptOp(String name, String detail, AttentionSpec spec, Append append, Attend attend) {
        this.name = name;
        this.detail = detail;
        this.spec = spec;
        this.append = append;
        this.attend = attend;
    }

    /** H2O: keys rotated at their positions; the attention updates the counters. */
    public static TokenOrderPromptOp h2o(HeavyHitterKv cache, AttentionSpec spec) {
        return new TokenOrderPromptOp("h2o_prompt", cache.toString(), spec, cache::append,
                (q, qOff, out, outOff) -> cache.decode(spec, q, qOff, out, outOff));
    }

    /** StreamingLLM: keys un-rotated (the cache rotates by cache position); the ring may wrap inside the prompt. */
    public static TokenOrderPromptOp sinks(SinkWindowKv cache, AttentionSpec spec) {
        return new TokenOrderPromptOp("sink_prompt", cache.describe(), spec,
                (k, kOff, v, vOff, pos) -> cache.append(0, k, kOff, v, vOff), decodeOver(cache, spec));
    }

    /** KIVI: keys rotated; {@code pos} must continue the cache (as {@link KiviAppendOp} checks). */
    public static TokenOrderPromptOp kivi(KiviCache cache, AttentionSpec spec) {
        return new TokenOrderPromptOp("kivi_prompt", cache.describe(), spec, (k, kOff, v, vOff, pos) -> {
            KiviAppendOp.continueAt(cache, pos, 1, "kivi_prompt");
            int row = cache.kvHeads() * cache.headDim();
            // Token-major views whose token 0 is this token: the append reads one token at index 0.
            cache.append(0, HeadView.tokenMajor(k.asSlice(kOff, 4L * row), 0, cache.kvHeads(), cache.headDim()),
                    HeadView.tokenMajor(v.asSlice(vOff, 4L * row), 0, cache.kvHeads(), cache.headDim()), 0);
        }, decodeOver(cache, spec));
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
        return device instanceof CpuDevice ? List.of(ImplPath.VECTOR_API) : List.of();
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 5, "(q [T, Hq, d], k [T, Hkv, d], v [T, Hkv, d], pos, out [T, Hq, d])");
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

    /** The caches' own references are what their tests hold them to; this op only orders their calls. */
    @Override
    protected void reference(LaunchContext ctx) {
        vector(ctx);
    }
}
