package dev.gale.bench.attention.prefill;

import dev.gale.bench.BenchCase;
import dev.gale.bench.Roofline;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.FlashPrefill;
import dev.gale.kernels.attention.HeadView;
import dev.gale.kernels.attention.PrefillBatch;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** {@link FlashPrefill} on one sequence of {@code n} tokens, all threads of {@link WorkerPool#shared()}. */
final class PrefillCase implements BenchCase {
    private final AttentionSpec spec;
    private final int n;
    private final String origin;
    private final PrefillBatch batch;
    private Arena arena;
    private FlashPrefill flash;
    private HeadView q;
    private HeadView k;
    private HeadView v;
    private HeadView out;

    PrefillCase(AttentionSpec spec, int n, String origin) {
        this.spec = spec;
        this.n = n;
        this.origin = origin;
        this.batch = PrefillBatch.single(n, n);
    }

    static String op(AttentionSpec s) {
        return "prefill attention" + (s.causal() ? " causal" : "");
    }

    static String shape(AttentionSpec s, int n, String origin) {
        return n + " tokens, " + s.heads() + "/" + s.kvHeads() + " heads, d=" + s.headDim() + " (" + origin + ")";
    }

    /** {@code 4·d·Hq} per visible (query, key) pair: see {@link PrefillBenchCases}. */
    static double flops(AttentionSpec s, PrefillBatch b) {
        return 4.0 * s.headDim() * s.heads() * b.visiblePairs(s);
    }

    /** Q, K, V read once and the output written once: the compulsory traffic. */
    static double bytes(AttentionSpec s, int n) {
        return 4.0 * n * s.headDim() * (2.0 * s.heads() + 2.0 * s.kvHeads());
    }

    @Override
    public String op() {
        return op(spec);
    }

    @Override
    public String shape() {
        return shape(spec, n, origin);
    }

    @Override
    public String impl() {
        return "vector-api x" + WorkerPool.shared().threads();
    }

    @Override
    public double bytes() {
        return bytes(spec, n);
    }

    @Override
    public double flops() {
        return flops(spec, batch);
    }

    @Override
    public Roofline roofline() {
        return Roofline.FMA_PEAK;
    }

    static MemorySegment random(Arena arena, long floats, long seed) {
        MemorySegment s = arena.allocate(4 * floats, 64);
        SplittableRandom r = new SplittableRandom(seed);
        for (long i = 0; i < floats; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (r.nextDouble() * 2 - 1));
        }
        return s;
    }

    @Override
    public void setup() {
        arena = Arena.ofShared();
        int d = spec.headDim();
        q = HeadView.tokenMajor(random(arena, (long) n * spec.heads() * d, 1), 0, spec.heads(), d);
        k = HeadView.tokenMajor(random(arena, (long) n * spec.kvHeads() * d, 2), 0, spec.kvHeads(), d);
        v = HeadView.tokenMajor(random(arena, (long) n * spec.kvHeads() * d, 3), 0, spec.kvHeads(), d);
        out = HeadView.tokenMajor(arena.allocate(4L * n * spec.heads() * d, 64), 0, spec.heads(), d);
        flash = new FlashPrefill(spec);
    }

    @Override
    public void run() {
        flash.apply(batch, q, k, v, out, null, 0);
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            arena = null;
        }
    }
}
