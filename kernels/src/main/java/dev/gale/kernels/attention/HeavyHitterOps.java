package dev.gale.kernels.attention;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import java.util.List;

/**
 * The graph launches of an H2O cache ({@link HeavyHitterKv}): append a token, and attend while counting (a prompt:
 * {@link TokenOrderPromptOp#h2o}).
 */
public final class HeavyHitterOps {
    private HeavyHitterOps() {
    }

    /** {@code (k [1, Hkv·d] F32 rotated, v (same), pos)}: the token at position {@code pos} enters the cache. */
    public static KernelOp append(HeavyHitterKv cache) {
        return new Append(cache);
    }

    /** {@code (q [1, Hq, d] F32, out [1, Hq, d] F32)}: attention over the kept tokens, counters updated. */
    public static KernelOp attention(HeavyHitterKv cache, AttentionSpec spec) {
        return new Attend(cache, spec);
    }

    private abstract static class CpuOnly extends KernelOp {
        @Override
        public List<ImplPath> paths(Device device, List<Arg> args) {
            return device instanceof CpuDevice ? List.of(ImplPath.VECTOR_API, ImplPath.REFERENCE) : List.of();
        }
    }

    private static final class Append extends CpuOnly {
        private final HeavyHitterKv cache;

        Append(HeavyHitterKv cache) {
            this.cache = cache;
        }

        @Override
        public String name() {
            return "h2o_append";
        }

        @Override
        public void check(List<Arg> args) {
            arity(args, 3, "(k [1, Hkv·d], v [1, Hkv·d], pos)");
            TensorDesc k = tensor(args, 0, "k", DType.F32);
            sameShape("k and v", k, tensor(args, 1, "v", DType.F32));
        }

        @Override
        protected void vector(LaunchContext ctx) {
            cache.append(ctx.segment(0), ctx.segment(1), ctx.intArg(2));
        }

        @Override
        protected void reference(LaunchContext ctx) {
            vector(ctx);
        }
    }

    private static final class Attend extends CpuOnly {
        private final HeavyHitterKv cache;
        private final AttentionSpec spec;

        Attend(HeavyHitterKv cache, AttentionSpec spec) {
            this.cache = cache;
            this.spec = spec;
        }

        @Override
        public String name() {
            return "h2o_attention";
        }

        @Override
        public String detail(Device device, List<Arg> args) {
            return cache.toString() + ", one pass per KV head";
        }

        @Override
        public void check(List<Arg> args) {
            arity(args, 2, "(q [1, Hq, d], out [1, Hq, d])");
            TensorDesc q = tensor(args, 0, "q", DType.F32);
            sameShape("q and out", q, tensor(args, 1, "out", DType.F32));
        }

        @Override
        protected void vector(LaunchContext ctx) {
            cache.decode(spec, ctx.segment(0), ctx.segment(1));
        }

        /** The counters are part of the op, so there is one path; {@link HeavyHitterKv#reference} checks its output. */
        @Override
        public List<ImplPath> paths(Device device, List<Arg> args) {
            return device instanceof CpuDevice ? List.of(ImplPath.VECTOR_API) : List.of();
        }

        @Override
        protected void reference(LaunchContext ctx) {
            vector(ctx);
        }
    }
}
