package dev.gale.bench.elem;

import dev.gale.bench.BenchCase;
import dev.gale.bench.Roofline;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * One element-wise/row-wise op at one shape. The operands are allocated and filled in {@link #setup()} (synthetic
 * data, fixed seed); {@link #run()} calls a body prepared there, so a run allocates nothing but what the op does
 * (nothing single-threaded, one capture object for a parallel entry).
 *
 * <p>{@link #bytes()} is the compulsory traffic of one run: every operand read once and every output written once
 * (the kernels' extra passes over a row, such as softmax's max pass, stay in cache at these shapes or are the
 * op's own cost, and do not count). {@link #flops()} counts a multiply-add as 2 and the vectorised exp as 25 (its
 * FMA/mul/add/min/max instructions).
 */
final class ElemCase implements BenchCase {
    private final String op;
    private final String shape;
    private final String impl;
    private final double bytes;
    private final double flops;
    private final Roofline roofline;
    private final long[] lengths;
    private final double scale;
    private final Function<MemorySegment[], Runnable> prepare;
    private Arena arena;
    private Runnable body;

    ElemCase(String op, String shape, String impl, double bytes, double flops, Roofline roofline, long[] lengths,
            double scale, Function<MemorySegment[], Runnable> prepare) {
        this.op = op;
        this.shape = shape;
        this.impl = impl;
        this.bytes = bytes;
        this.flops = flops;
        this.roofline = roofline;
        this.lengths = lengths;
        this.scale = scale;
        this.prepare = prepare;
    }

    @Override
    public String op() {
        return op;
    }

    @Override
    public String shape() {
        return shape;
    }

    @Override
    public String impl() {
        return impl;
    }

    @Override
    public double bytes() {
        return bytes;
    }

    @Override
    public double flops() {
        return flops;
    }

    @Override
    public Roofline roofline() {
        return roofline;
    }

    @Override
    public void setup() {
        arena = Arena.ofShared();
        SplittableRandom rnd = new SplittableRandom(1234);
        MemorySegment[] segs = new MemorySegment[lengths.length];
        for (int i = 0; i < lengths.length; i++) {
            segs[i] = filled(arena, lengths[i], scale, rnd);
        }
        body = prepare.apply(segs);
    }

    static MemorySegment filled(Arena arena, long n, double scale, SplittableRandom rnd) {
        MemorySegment s = arena.allocate(4 * n, 64);
        for (long i = 0; i < n; i++) {
            // A cheap approximately normal value: the sum of four uniforms, centred and scaled.
            double u = rnd.nextDouble() + rnd.nextDouble() + rnd.nextDouble() + rnd.nextDouble() - 2.0;
            s.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) (u * 1.7320508 * scale));
        }
        return s;
    }

    @Override
    public void run() {
        body.run();
    }

    @Override
    public void close() {
        body = null;
        if (arena != null) {
            arena.close();
            arena = null;
        }
    }

    @Override
    public String toString() {
        return op + " " + shape + " " + impl;
    }
}
