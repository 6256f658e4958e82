package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.B;
import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.F32;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.I32;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;
import static dev.gale.kernels.quant.QuantVectors.QK;
import static dev.gale.kernels.quant.QuantVectors.f16;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@link BlockMatmul} on Q4_0 weights in llama.cpp's block layout (fp16 scale, 16 bytes of nibbles: element j low,
 * j + 16 high, each {@code nib − 8}); the baseline of {@link Q4_0Lanes} and {@link Q4_0Packed}, and the scalar
 * reference every Q4_0 kernel is tested against. With Q8 activations the unsigned nibbles are multiplied and the zero
 * point is one scalar term per row and block, {@code −8·d_w·d_x·Σx_q}, from the activations' block sums.
 */
public final class Q4_0Matmul extends BlockMatmul {
    /** The one instance: the format's kernels hold no state. */
    public static final Q4_0Matmul INSTANCE = new Q4_0Matmul();
    private static final int BB = Q4_0.BLOCK_BYTES;
    /**
     * Nibble masks and shift counts as vectors: {@code lanewise(op, int)} dispatches through a shared JDK call site
     * that C2 may fail to devirtualize (then every vector is boxed); {@code lanewise(op, Vector)} binds here.
     */
    private static final IntVector LOW_I = IntVector.broadcast(I, 0x0f);
    private static final IntVector FOUR_I = IntVector.broadcast(I, 4);
    private static final IntVector EIGHT_I = IntVector.broadcast(I, 8);

    private Q4_0Matmul() {
        super("Q4_0", BB);
    }

    @Override
    long rowBytes(int in) {
        return Q4_0.rowBytes(in);
    }

    @Override
    int code(MemorySegment w, long o, int j) {
        return Q4_0.nibble(w, o, j) - 8;
    }

    /**
     * Four consecutive rows (starting at byte {@code w0}, {@code rb} apart) · one token; 4 outputs at {@code yo}.
     * Nibble bytes zero-extend to int lanes (low nibble: AND 15, high: shift right 4; x86 has no byte shift), then
     * to F32, and multiply-add against the activation bytes widened to F32: partial sums are integers below 2^24
     * (32·15·127), so the block's {@code Σ nib·x_q} is exact. One FMA with {@code d_w·d_x} per block; the zero point
     * costs one scalar multiply-add per row and block, {@code −8·d_w·d_x·Σx_q}, from the activations' block sums.
     */
    @Override
    void q8x4(MemorySegment w, long w0, long rb, MemorySegment a, long aq, long as, long asum, int nb,
            MemorySegment y, long yo) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        float c0 = 0;
        float c1 = 0;
        float c2 = 0;
        float c3 = 0;
        long w1 = w0 + rb;
        long w2 = w1 + rb;
        long w3 = w2 + rb;
        for (int b = 0; b < nb; b++) {
            long ob = (long) b * BB + 2;
            long ab = aq + (long) b * QK;
            float dx = a.get(F32, as + 4L * b);
            float sq = a.get(I32, asum + 4L * b);
            float s0 = f16(w, w0 + ob - 2) * dx;
            float s1 = f16(w, w1 + ob - 2) * dx;
            float s2 = f16(w, w2 + ob - 2) * dx;
            float s3 = f16(w, w3 + ob - 2) * dx;
            FloatVector p0 = FloatVector.zero(F);
            FloatVector p1 = p0;
            FloatVector p2 = p0;
            FloatVector p3 = p0;
            for (int j = 0; j < QK / 2; j += L) {
                FloatVector al = ((FloatVector) ByteVector.fromMemorySegment(B, a, ab + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0));
                FloatVector ah = ((FloatVector) ByteVector.fromMemorySegment(B, a, ab + j + QK / 2, LE)
                        .convertShape(VectorOperators.B2F, F, 0));
                IntVector n0 = (IntVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.AND, LOW_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, al, p0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.LSHR, FOUR_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, ah, p0);
                IntVector n1 = (IntVector) ByteVector.fromMemorySegment(B, w, w1 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p1 = ((FloatVector) n1.lanewise(VectorOperators.AND, LOW_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, al, p1);
                p1 = ((FloatVector) n1.lanewise(VectorOperators.LSHR, FOUR_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, ah, p1);
                IntVector n2 = (IntVector) ByteVector.fromMemorySegment(B, w, w2 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p2 = ((FloatVector) n2.lanewise(VectorOperators.AND, LOW_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, al, p2);
                p2 = ((FloatVector) n2.lanewise(VectorOperators.LSHR, FOUR_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, ah, p2);
                IntVector n3 = (IntVector) ByteVector.fromMemorySegment(B, w, w3 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p3 = ((FloatVector) n3.lanewise(VectorOperators.AND, LOW_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, al, p3);
                p3 = ((FloatVector) n3.lanewise(VectorOperators.LSHR, FOUR_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, ah, p3);
            }
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s0), acc0);
            c0 += s0 * sq;
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s1), acc1);
            c1 += s1 * sq;
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s2), acc2);
            c2 += s2 * sq;
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s3), acc3);
            c3 += s3 * sq;
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD) - 8 * c0);
        y.set(F32, yo + 4, acc1.reduceLanes(VectorOperators.ADD) - 8 * c1);
        y.set(F32, yo + 8, acc2.reduceLanes(VectorOperators.ADD) - 8 * c2);
        y.set(F32, yo + 12, acc3.reduceLanes(VectorOperators.ADD) - 8 * c3);
    }

    @Override
    void q8x1(MemorySegment w, long w0, MemorySegment a, long aq, long as, long asum, int nb, MemorySegment y,
            long yo) {
        FloatVector acc0 = FloatVector.zero(F);
        float c0 = 0;
        for (int b = 0; b < nb; b++) {
            long ob = (long) b * BB + 2;
            long ab = aq + (long) b * QK;
            FloatVector p0 = FloatVector.zero(F);
            for (int j = 0; j < QK / 2; j += L) {
                FloatVector al = ((FloatVector) ByteVector.fromMemorySegment(B, a, ab + j, LE)
                        .convertShape(VectorOperators.B2F, F, 0));
                FloatVector ah = ((FloatVector) ByteVector.fromMemorySegment(B, a, ab + j + QK / 2, LE)
                        .convertShape(VectorOperators.B2F, F, 0));
                IntVector n0 = (IntVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.AND, LOW_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, al, p0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.LSHR, FOUR_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, ah, p0);
            }
            float s0 = f16(w, w0 + ob - 2) * a.get(F32, as + 4L * b);
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, s0), acc0);
            c0 += s0 * a.get(I32, asum + 4L * b);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD) - 8 * c0);
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
            FloatVector p0 = FloatVector.zero(F);
            FloatVector p1 = p0;
            FloatVector p2 = p0;
            FloatVector p3 = p0;
            for (int j = 0; j < QK / 2; j += L) {
                FloatVector xl = FloatVector.fromMemorySegment(F, x, xb + 4L * j, LE);
                FloatVector xh = FloatVector.fromMemorySegment(F, x, xb + 4L * (j + QK / 2), LE);
                IntVector n0 = (IntVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.AND, LOW_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.LSHR, FOUR_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xh, p0);
                IntVector n1 = (IntVector) ByteVector.fromMemorySegment(B, w, w1 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p1 = ((FloatVector) n1.lanewise(VectorOperators.AND, LOW_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p1);
                p1 = ((FloatVector) n1.lanewise(VectorOperators.LSHR, FOUR_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xh, p1);
                IntVector n2 = (IntVector) ByteVector.fromMemorySegment(B, w, w2 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p2 = ((FloatVector) n2.lanewise(VectorOperators.AND, LOW_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p2);
                p2 = ((FloatVector) n2.lanewise(VectorOperators.LSHR, FOUR_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xh, p2);
                IntVector n3 = (IntVector) ByteVector.fromMemorySegment(B, w, w3 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p3 = ((FloatVector) n3.lanewise(VectorOperators.AND, LOW_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p3);
                p3 = ((FloatVector) n3.lanewise(VectorOperators.LSHR, FOUR_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xh, p3);
            }
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, f16(w, w0 + ob - 2)), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, f16(w, w1 + ob - 2)), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, f16(w, w2 + ob - 2)), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, f16(w, w3 + ob - 2)), acc3);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + ys, acc1.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 2 * ys, acc2.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 3 * ys, acc3.reduceLanes(VectorOperators.ADD));
    }

    @Override
    void f32x1(MemorySegment w, long w0, MemorySegment x, long xo, int nb, MemorySegment y, long yo) {
        FloatVector acc0 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long ob = w0 + (long) b * BB + 2;
            long xb = xo + 4L * b * QK;
            FloatVector p0 = FloatVector.zero(F);
            for (int j = 0; j < QK / 2; j += L) {
                FloatVector xl = FloatVector.fromMemorySegment(F, x, xb + 4L * j, LE);
                FloatVector xh = FloatVector.fromMemorySegment(F, x, xb + 4L * (j + QK / 2), LE);
                IntVector n0 = (IntVector) ByteVector.fromMemorySegment(B, w, ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.AND, LOW_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.LSHR, FOUR_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xh, p0);
            }
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, f16(w, ob - 2)), acc0);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
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
            long ob = (long) b * BB + 2;
            FloatVector d0 = FloatVector.broadcast(F, f16(w, w0 + ob - 2));
            FloatVector d1 = FloatVector.broadcast(F, f16(w, w1 + ob - 2));
            long xb = xo + 4L * b * QK;
            for (int j = 0; j < QK / 2; j += L) {
                IntVector n0 = (IntVector) ByteVector.fromMemorySegment(B, w, w0 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                IntVector n1 = (IntVector) ByteVector.fromMemorySegment(B, w, w1 + ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                {
                    FloatVector v0 = ((FloatVector) n0.lanewise(VectorOperators.AND, LOW_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0))
                            .lanewise(VectorOperators.MUL, d0);
                    FloatVector v1 = ((FloatVector) n1.lanewise(VectorOperators.AND, LOW_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0))
                            .lanewise(VectorOperators.MUL, d1);
                    long xk = xb + 4L * (j + 0);
                    FloatVector xv = FloatVector.fromMemorySegment(F, x, xk, LE);
                    c00 = v0.lanewise(VectorOperators.FMA, xv, c00);
                    c10 = v1.lanewise(VectorOperators.FMA, xv, c10);
                    xv = FloatVector.fromMemorySegment(F, x, xk + xs, LE);
                    c01 = v0.lanewise(VectorOperators.FMA, xv, c01);
                    c11 = v1.lanewise(VectorOperators.FMA, xv, c11);
                    xv = FloatVector.fromMemorySegment(F, x, xk + 2 * xs, LE);
                    c02 = v0.lanewise(VectorOperators.FMA, xv, c02);
                    c12 = v1.lanewise(VectorOperators.FMA, xv, c12);
                    xv = FloatVector.fromMemorySegment(F, x, xk + 3 * xs, LE);
                    c03 = v0.lanewise(VectorOperators.FMA, xv, c03);
                    c13 = v1.lanewise(VectorOperators.FMA, xv, c13);
                }
                {
                    FloatVector v0 = ((FloatVector) n0.lanewise(VectorOperators.LSHR, FOUR_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0))
                            .lanewise(VectorOperators.MUL, d0);
                    FloatVector v1 = ((FloatVector) n1.lanewise(VectorOperators.LSHR, FOUR_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0))
                            .lanewise(VectorOperators.MUL, d1);
                    long xk = xb + 4L * (j + 16);
                    FloatVector xv = FloatVector.fromMemorySegment(F, x, xk, LE);
                    c00 = v0.lanewise(VectorOperators.FMA, xv, c00);
                    c10 = v1.lanewise(VectorOperators.FMA, xv, c10);
                    xv = FloatVector.fromMemorySegment(F, x, xk + xs, LE);
                    c01 = v0.lanewise(VectorOperators.FMA, xv, c01);
                    c11 = v1.lanewise(VectorOperators.FMA, xv, c11);
                    xv = FloatVector.fromMemorySegment(F, x, xk + 2 * xs, LE);
                    c02 = v0.lanewise(VectorOperators.FMA, xv, c02);
                    c12 = v1.lanewise(VectorOperators.FMA, xv, c12);
                    xv = FloatVector.fromMemorySegment(F, x, xk + 3 * xs, LE);
                    c03 = v0.lanewise(VectorOperators.FMA, xv, c03);
                    c13 = v1.lanewise(VectorOperators.FMA, xv, c13);
                }
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
            long ob = w0 + (long) b * BB + 2;
            FloatVector d = FloatVector.broadcast(F, f16(w, ob - 2));
            long xb = xo + 4L * b * QK;
            for (int j = 0; j < QK / 2; j += L) {
                IntVector n0 = (IntVector) ByteVector.fromMemorySegment(B, w, ob + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                {
                    FloatVector v = ((FloatVector) n0.lanewise(VectorOperators.AND, LOW_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0))
                            .lanewise(VectorOperators.MUL, d);
                    long xk = xb + 4L * (j + 0);
                    c0 = v.lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, x, xk, LE), c0);
                    c1 = v.lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, x, xk + xs, LE), c1);
                    c2 = v.lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, x, xk + 2 * xs, LE), c2);
                    c3 = v.lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, x, xk + 3 * xs, LE), c3);
                }
                {
                    FloatVector v = ((FloatVector) n0.lanewise(VectorOperators.LSHR, FOUR_I).lanewise(VectorOperators.SUB, EIGHT_I).convertShape(VectorOperators.I2F, F, 0))
                            .lanewise(VectorOperators.MUL, d);
                    long xk = xb + 4L * (j + 16);
                    c0 = v.lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, x, xk, LE), c0);
                    c1 = v.lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, x, xk + xs, LE), c1);
                    c2 = v.lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, x, xk + 2 * xs, LE), c2);
                    c3 = v.lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, x, xk + 3 * xs, LE), c3);
                }
            }
        }
        store(y, yo, first, c0.reduceLanes(VectorOperators.ADD));
        store(y, yo + ys, first, c1.reduceLanes(VectorOperators.ADD));
        store(y, yo + 2 * ys, first, c2.reduceLanes(VectorOperators.ADD));
        store(y, yo + 3 * ys, first, c3.reduceLanes(VectorOperators.ADD));
    }
}
