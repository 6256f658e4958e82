package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q4_0Matmul;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.kernels.quant.Q8_0Matmul;
import dev.gale.kernels.quant.QuantMatMulOp;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * One case of the Q8_0/Q4_0 checks (block kernels and split-block kernels alike): F32 weights quantized to llama.cpp's
 * block layout with a subnormal fp16 scale poked into row 0's first block and a negative one into row 1's, their
 * dequantization, the block-layout scalar reference, the Vector API path a model runs, and the comparison.
 */
final class QuantCase implements AutoCloseable {
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final boolean q4;
    final int tokens;
    final int rows;
    final int in;
    final long rowBytes;
    /** The block-layout weights (U8 for Q4_0, I8 for Q8_0), as a device receives them. */
    final Buffer w;
    final Buffer x;
    final Buffer got;
    private final float[] xs;
    private final Buffer deq;
    private final Buffer want;
    /** Whether the Vector API run quantized the activations to Q8 (then their rounding joins the bound). */
    private boolean q8Activations;

    QuantCase(boolean q4, float[] ws, float[] xs, int tokens, int rows, int in) {
        this.q4 = q4;
        this.tokens = tokens;
        this.rows = rows;
        this.in = in;
        this.xs = xs;
        rowBytes = q4 ? Q4_0.rowBytes(in) : Q8_0.rowBytes(in);
        w = Buffers.allocate("w", q4 ? DType.U8 : DType.I8, rows * rowBytes);
        x = Buffers.f32("x", xs);
        got = Ops.f32("got", tokens * rows);
        deq = Ops.f32("deq", rows * in);
        want = Ops.f32("want", tokens * rows);
        MemorySegment ms = w.segment();
        try (Buffer wf = Buffers.f32("wf", ws)) {
            if (q4) {
                Q4_0.quantize(wf.segment(), 0, ms, 0, rows * in);
            } else {
                Q8_0.quantize(wf.segment(), 0, ms, 0, rows * in);
            }
        }
        ms.set(HALF, 0, (short) 0x0203);
        if (rows > 1) {
            ms.set(HALF, rowBytes, (short) 0xB555);
        }
        if (q4) {
            Q4_0.dequantize(ms, 0, deq.segment(), 0, rows * in);
            Q4_0Matmul.INSTANCE.referenceF32(ms, 0, rows, in, x.segment(), 0, tokens, want.segment(), 0);
        } else {
            Q8_0.dequantize(ms, 0, deq.segment(), 0, rows * in);
            Q8_0Matmul.INSTANCE.referenceF32(ms, 0, rows, in, x.segment(), 0, tokens, want.segment(), 0);
        }
    }

    /**
     * The Vector API path a model runs into {@link #got}: the op over weights packed at load (the decode kernel, or
     * the GEMM over dequantized panels from {@code QuantMatMulOp.GEMM_TOKENS} tokens on).
     */
    void runVectorApi() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment ms = w.segment();
            QuantMatMulOp op = q4 ? QuantMatMulOp.q4_0(ms, 0, rows, in, arena)
                    : QuantMatMulOp.q8_0(ms, 0, rows, in, arena);
            op.matmul(x.segment(), 0, tokens, got.segment(), 0);
            q8Activations = op.quantizesActivations(tokens);
        }
    }

    /**
     * Every output against the reference within {@code max(1e-5, (in/16 + 16)u)} of {@code Σ|d·q·x|}. The packed
     * Q4_0 kernel (the Vector API target) folds the zero point into sums over x, so its scale also counts those terms
     * ({@link #q4PackedTerms}), and an infinite activation may give NaN there where the reference gives ±Inf.
     */
    void check(Errors e, String name, boolean vectorApi) {
        double tolRel = Math.max(Numerics.F32_REL, (in / 16.0 + 16) * Numerics.U_F32);
        for (int tk = 0; tk < tokens; tk++) {
            for (int o = 0; o < rows; o++) {
                double sumAbs = 0;
                for (int i = 0; i < in; i++) {
                    sumAbs += Math.abs((double) deq.getFloat((long) o * in + i) * xs[tk * in + i]);
                }
                int k = tk * rows + o;
                String where = name + " " + tokens + "x" + rows + "x" + in + " token " + tk + " row " + o;
                if (vectorApi && q8Activations) {
                    // the row-lane kernels' block sums Σq_w·x_q are exact integers, so F32 rounds only the block
                    // terms (d_w·d_x)·Σ and their sum, bounded by Σ|d·q·x|; plus the activations' Q8 rounding
                    // expressed at that relative tolerance
                    double scale = sumAbs + q8RoundingError(o, tk * in) / tolRel;
                    e.checkNonFinite(where, got.getFloat(k), want.getFloat(k), scale, tolRel);
                } else if (q4 && vectorApi) {
                    sumAbs = Math.max(sumAbs, q4PackedTerms(w.segment(), o * rowBytes, in, xs, tk * in));
                    e.checkNonFinite(where, got.getFloat(k), want.getFloat(k), sumAbs, tolRel);
                } else {
                    e.check(where, got.getFloat(k), want.getFloat(k), sumAbs, tolRel);
                }
            }
        }
    }

    /**
     * The most that quantizing token {@code xOff / in}'s activations to Q8 per block of 32 (step {@code amax/127},
     * round to nearest) can move row {@code o}'s output: half a step per element times the dequantized weight, with
     * 1 % for the F32 rounding of the step itself.
     */
    private double q8RoundingError(int o, int xOff) {
        double err = 0;
        for (int b = 0; b < in / 32; b++) {
            double amax = 0;
            double w = 0;
            for (int i = 32 * b; i < 32 * b + 32; i++) {
                amax = Math.max(amax, Math.abs(xs[xOff + i]));
                w += Math.abs(deq.getFloat((long) o * in + i));
            }
            err += amax / 127 / 2 * 1.01 * w;
        }
        return err;
    }

    /**
     * The magnitude of the terms the packed Q4_0 kernel on F32 activations sums for one output
     * ({@code Q4_0Packed}: per byte {@code v·x_lo + hi·(x_hi − 16·x_lo)} with {@code v = lo + 16·hi}, and
     * {@code −8·Σx} per block, times the scale), which bounds its F32 rounding: unlike {@code Σ|d·(q − 8)·x|} it does
     * not vanish when every nibble is 8.
     */
    static double q4PackedTerms(MemorySegment w, long rowOff, int in, float[] x, int xOff) {
        double s = 0;
        for (int b = 0; b < in / 32; b++) {
            long o = rowOff + 18L * b;
            double terms = 0;
            double sum = 0;
            for (int j = 0; j < 16; j++) {
                int v = w.get(ValueLayout.JAVA_BYTE, o + 2 + j) & 0xff;
                double lo = x[xOff + 32 * b + j];
                double hi = x[xOff + 32 * b + j + 16];
                terms += v * Math.abs(lo) + (v >>> 4) * Math.abs(hi - 16 * lo);
                sum += lo + hi;
            }
            s += Math.abs(Float.float16ToFloat(w.get(HALF, o))) * (terms + 8 * Math.abs(sum));
        }
        return s;
    }

    @Override
    public void close() {
        for (Buffer b : new Buffer[] {w, x, got, deq, want}) {
            b.close();
        }
    }
}
