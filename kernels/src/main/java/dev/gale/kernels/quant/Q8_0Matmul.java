package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.B;
import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;
import static dev.gale.kernels.quant.QuantVectors.f16;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@link BlockMatmul} on Q8_0 weights in llama.cpp's block layout (fp16 scale, 32 signed bytes); the baseline of
 * {@link Q8_0Lanes} and {@link Q8_0Packed}, the scalar reference every Q8_0 kernel is tested against, and the kernel
 * {@link Q8_0Blocks} runs on F32 activations (with {@link #gemvF32QuarterStreams} for one token).
 */
public final class Q8_0Matmul extends BlockMatmul {
    /** The one instance: the format's kernels hold no state. */
    public static final Q8_0Matmul INSTANCE = new Q8_0Matmul();
    private static final int BB = Q8_0.BLOCK_BYTES;

    private Q8_0Matmul() {
        super("Q8_0", BB);
    }

    @Override
    long rowBytes(int in) {
        return Q8_0.rowBytes(in);
    }

    @Override
    int code(MemorySegment w, long o, int j) {
        return w.get(ValueLayout.JAVA_BYTE, o + 2 + j);
    }

    /**
     * One token, all rows, over the shared worker pool, each thread's 4-row groups taken from the 4 quarters of its
     * range: rows {@code q·n + i} of a chunk of {@code 4n} rows, {@code q = 0..3}. The four rows then stream from four
     * places in memory, four DRAM page streams instead of one; measured on the AVX-512 Xeon over a Llama-3.2-1B step's
     * Q8_0 GEMVs, 1.16–1.17× the same kernel on 4 adjacent rows (two runs, 2026-11-28). Same products and order per
     * row as {@link #matmulF32Parallel}.
     */
    void gemvF32QuarterStreams(MemorySegment w, long wOff, int rows, int in, MemorySegment x, long xOff,
            MemorySegment y, long yOff) {
        checkF32(w, wOff, rows, in, x, xOff, 1, y, yOff);
        if (!QuantVectors.VECTOR_OK) {
            referenceRowsF32(w, wOff, rows, in, x, xOff, 1, y, yOff, 0, rows);
            return;
        }
        long rb = rowBytes(in);
        int nb = in / QK;
        int quads = rows / 4;
        WorkerPool.shared().parallelForBalanced(quads, grain(in, 1), (s, e) -> {
            int n = e - s;
            for (int i = 0; i < n; i++) {
                long r = 4L * s + i;
                f32x4(w, wOff + r * rb, n * rb, x, xOff, nb, y, yOff + 4 * r, 4L * n);
            }
        });
        for (int r = 4 * quads; r < rows; r++) {
            f32x1(w, wOff + r * rb, x, xOff, nb, y, yOff + 4L * r);
        }
    }

    /**
     * Four consecutive rows (starting at byte {@code w0}, {@code rb} apart) · one token; 4 outputs at {@code yo}.
     * Weight and activation bytes widen straight to F32 lanes and multiply-add there: every product and partial sum is
     * an integer below 2^24 (32·128·127), so the block's integer dot is exact in F32, in any order. Then one FMA with
     * {@code d_w·d_x} per block. Each activation vector feeds 4 rows. (Widening to 16-bit lanes and multiplying there
     * measured 2–2.5× slower in this kernel under C2, and widening to int lanes slower still.)
     */
    @Override
    void q8x4(MemorySegment w, long w0, long rb, MemorySegment a, long aq, long as, long asum, int nb,
            MemorySegment y, long yo) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        long w1 = w0 + rb;
        long w2 = w1 + rb;
        long w3 = w2 + rb;
        for (int b = 0; b < nb; b++) {
            long ob = (long) b * BB + 2;
            float dx = a.get(F32, as + 4L * b);
            float s0 = f16(w, w0 + ob - 2) * dx;
            float s1 = f16(w, w1 + ob - 2) * dx;
            float s2 = f16(w, w2 + ob - 2) * dx;
            float s3 = f16(w, w3 + ob - 2) * dx;
            long ab = aq + (long) b * QK;
            FloatVector av = ((FloatVector) ByteVector.fromMemorySegment(B, a, ab, LE).convertShape(VectorOperators.B2F, F, 0));
            FloatVector p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, av);
            FloatVector p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, av);
            FloatVector p2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w2 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, av);
            FloatVector p3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w3 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, av);
            for (int j = L; j < QK; j += L) {
                av = ((FloatVector) ByteVector.fromMemorySegment(B, a, ab + j, LE).convertShape(VectorOperators.B2F, F, 0));
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, av, p0);
                p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, av, p1);
                p2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w2 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, av, p2);
                p3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w3 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, av, p3);
            }
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s0), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s1), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s2), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s3), acc3);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 4, acc1.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 8, acc2.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 12, acc3.reduceLanes(VectorOperators.ADD));
    }

    @Override
    void q8x1(MemorySegment w, long w0, MemorySegment a, long aq, long as, long asum, int nb, MemorySegment y,
            long yo) {
        FloatVector acc0 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long ob = (long) b * BB + 2;
            long ab = aq + (long) b * QK;
            FloatVector p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.MUL, ((FloatVector) ByteVector.fromMemorySegment(B, a, ab, LE).convertShape(VectorOperators.B2F, F, 0)));
            for (int j = L; j < QK; j += L) {
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).lanewise(VectorOperators.FMA, ((FloatVector) ByteVector.fromMemorySegment(B, a, ab + j, LE).convertShape(VectorOperators.B2F, F, 0)), p0);
            }
            acc0 = p0.lanewise(VectorOperators.FMA,
                    FloatVector.broadcast(F, f16(w, w0 + ob - 2) * a.get(F32, as + 4L * b)), acc0);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
    }

    @Override
    void f32x4(MemorySegment w, long w0, long rb, MemorySegment x, long xo, int nb, MemorySegment y, long yo,
            long ys) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        long w1 = w0 + rb;
        long w2 = w1 + rb;
        long w3 = w2 + rb;
        for (int b = 0; b < nb; b++) {
            long ob = (long) b * BB + 2;
            long xb = xo + 4L * b * QK;
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xb, LE);
            FloatVector p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xv);
            FloatVector p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xv);
            FloatVector p2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w2 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xv);
            FloatVector p3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w3 + ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(xv);
            for (int j = L; j < QK; j += L) {
                xv = FloatVector.fromMemorySegment(F, x, xb + 4L * j, LE);
                p0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xv, p0);
                p1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xv, p1);
                p2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w2 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xv, p2);
                p3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w3 + ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(xv, p3);
            }
            acc0 = p0.fma(FloatVector.broadcast(F, f16(w, w0 + ob - 2)), acc0);
            acc1 = p1.fma(FloatVector.broadcast(F, f16(w, w1 + ob - 2)), acc1);
            acc2 = p2.fma(FloatVector.broadcast(F, f16(w, w2 + ob - 2)), acc2);
            acc3 = p3.fma(FloatVector.broadcast(F, f16(w, w3 + ob - 2)), acc3);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + ys, acc1.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 2 * ys, acc2.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 3 * ys, acc3.reduceLanes(VectorOperators.ADD));
    }

    @Override
    void f32x1(MemorySegment w, long w0, MemorySegment x, long xo, int nb, MemorySegment y, long yo) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long ob = w0 + (long) b * BB + 2;
            long xb = xo + 4L * b * QK;
            FloatVector p = ((FloatVector) ByteVector.fromMemorySegment(B, w, ob, LE).convertShape(VectorOperators.B2F, F, 0)).mul(FloatVector.fromMemorySegment(F, x, xb, LE));
            for (int j = L; j < QK; j += L) {
                p = ((FloatVector) ByteVector.fromMemorySegment(B, w, ob + j, LE).convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromMemorySegment(F, x, xb + 4L * j, LE), p);
            }
            acc = p.fma(FloatVector.broadcast(F, f16(w, ob - 2)), acc);
        }
        y.set(F32, yo, acc.reduceLanes(VectorOperators.ADD));
    }

    /**
     * Rows {@code w0}, {@code w0 + rb} × tokens at {@code xo + k·xs} (k < 4) over blocks {@code [b0, b1)}: each weight
     * vector is decoded and scaled once and used by 4 tokens. Adds into Y unless {@code first}.
     */
    @Override
    void tile2x4(MemorySegment w, long w0, long rb, int b0, int b1, MemorySegment x, long xo, long xs,
            MemorySegment y, long yo, long ys, boolean first) {
        FloatVector c00 = FloatVector.zero(F);
        FloatVector c01 = c00;
        FloatVector c02 = c00;
        FloatVector c03 = c00;
        FloatVector c10 = c00;
        FloatVector c11 = c00;
        FloatVector c12 = c00;
        FloatVector c13 = c00;
        long w1 = w0 + rb;
        for (int b = b0; b < b1; b++) {
            long ob = (long) b * BB;
            FloatVector d0 = FloatVector.broadcast(F, f16(w, w0 + ob));
            FloatVector d1 = FloatVector.broadcast(F, f16(w, w1 + ob));
            long xb = xo + 4L * b * QK;
            for (int j = 0; j < QK; j += L) {
                FloatVector v0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w0 + ob + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0);
                FloatVector v1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, w1 + ob + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1);
                long xk = xb + 4L * j;
                FloatVector xv = FloatVector.fromMemorySegment(F, x, xk, LE);
                c00 = v0.fma(xv, c00);
                c10 = v1.fma(xv, c10);
                xv = FloatVector.fromMemorySegment(F, x, xk + xs, LE);
                c01 = v0.fma(xv, c01);
                c11 = v1.fma(xv, c11);
                xv = FloatVector.fromMemorySegment(F, x, xk + 2 * xs, LE);
                c02 = v0.fma(xv, c02);
                c12 = v1.fma(xv, c12);
                xv = FloatVector.fromMemorySegment(F, x, xk + 3 * xs, LE);
                c03 = v0.fma(xv, c03);
                c13 = v1.fma(xv, c13);
            }
        }
        store(y, yo, first, c00.reduceLanes(VectorOperators.ADD));
        store(y, yo + 4, first, c10.reduceLanes(VectorOperators.ADD));
        store(y, yo + ys, first, c01.reduceLanes(VectorOperators.ADD));
        store(y, yo + ys + 4, first, c11.reduceLanes(VectorOperators.ADD));
        store(y, yo + 2 * ys, first, c02.reduceLanes(VectorOperators.ADD));
        store(y, yo + 2 * ys + 4, first, c12.reduceLanes(VectorOperators.ADD));
        store(y, yo + 3 * ys, first, c03.reduceLanes(VectorOperators.ADD));
        store(y, yo + 3 * ys + 4, first, c13.reduceLanes(VectorOperators.ADD));
    }

    @Override
    void tile1x4(MemorySegment w, long w0, int b0, int b1, MemorySegment x, long xo, long xs, MemorySegment y,
            long yo, long ys, boolean first) {
        FloatVector c0 = FloatVector.zero(F);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        for (int b = b0; b < b1; b++) {
            long ob = w0 + (long) b * BB;
            FloatVector d = FloatVector.broadcast(F, f16(w, ob));
            long xb = xo + 4L * b * QK;
            for (int j = 0; j < QK; j += L) {
                FloatVector v = ((FloatVector) ByteVector.fromMemorySegment(B, w, ob + 2 + j, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d);
                long xk = xb + 4L * j;
                c0 = v.fma(FloatVector.fromMemorySegment(F, x, xk, LE), c0);
                c1 = v.fma(FloatVector.fromMemorySegment(F, x, xk + xs, LE), c1);
                c2 = v.fma(FloatVector.fromMemorySegment(F, x, xk + 2 * xs, LE), c2);
                c3 = v.fma(FloatVector.fromMemorySegment(F, x, xk + 3 * xs, LE), c3);
            }
        }
        store(y, yo, first, c0.reduceLanes(VectorOperators.ADD));
        store(y, yo + ys, first, c1.reduceLanes(VectorOperators.ADD));
        store(y, yo + 2 * ys, first, c2.reduceLanes(VectorOperators.ADD));
        store(y, yo + 3 * ys, first, c3.reduceLanes(VectorOperators.ADD));
    }
}
