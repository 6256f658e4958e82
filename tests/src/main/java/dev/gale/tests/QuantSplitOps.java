package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q4_0Matmul;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.kernels.quant.Q8_0Matmul;
import dev.gale.kernels.quant.SplitBlocks;
import dev.gale.kernels.quant.SplitGemvKernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The Q8_0 and Q4_0 GEMV on {@link SplitBlocks} (the graph op's device path for one token) in the cross-device
 * matrix, against the block-layout scalar reference; on the vector-api target, the block-layout Vector API kernels
 * ({@link Q4_0Matmul}, {@link Q8_0Matmul}), as the {@code q4_0_gemv} check does (the packed decode kernels fold the
 * zero point into {@code −8·Σx}, so an infinite activation gives NaN there). Every case pokes a subnormal fp16 scale into row 0's
 * first block, a negative scale into row 1's and an all-zero block (scale 0) into the last row; the second case has
 * an +Inf activation (so a zero nibble meets it: NaN, as in the reference).
 */
public final class QuantSplitOps {
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Shapes {rows, in}: one block, odd row counts around the work-group size, long rows. */
    private static final int[][] SHAPES = {{1, 32}, {7, 64}, {33, 4064}, {4097, 64}, {5, 4128}, {65, 14336}};

    private QuantSplitOps() {
    }

    /** Both checks, in matrix order. */
    public static List<OpCheck> all() {
        return List.of(gemv(false), gemv(true));
    }

    static OpCheck gemv(boolean q4) {
        String name = q4 ? "q4_0_gemv_split" : "q8_0_gemv_split";
        String tol = "|err| <= max(1e-5, (in/16 + 16)u) * sum|d*q*x| per output (Numerics.dotBound)";
        return new OpCheck(name, tol, (t, e) -> {
            SplittableRandom r = new SplittableRandom(name.hashCode());
            for (int c = 0; c < SHAPES.length; c++) {
                int rows = SHAPES[c][0];
                int in = SHAPES[c][1];
                float[] ws = Ops.random(r, rows * in, 1);
                for (int j = 0; j < 32; j++) {
                    ws[(rows - 1) * in + j] = 0f;
                }
                float[] xs = Ops.random(r, in, 2);
                if (c == 1) {
                    xs[5] = Float.POSITIVE_INFINITY;
                }
                long rowBytes = q4 ? Q4_0.rowBytes(in) : Q8_0.rowBytes(in);
                try (Arena arena = Arena.ofShared(); Buffer wf = Buffers.f32("wf", ws);
                     Buffer deq = Ops.f32("deq", rows * in); Buffer x = Buffers.f32("x", xs);
                     Buffer want = Ops.f32("want", rows); Buffer got = Ops.f32("got", rows)) {
                    MemorySegment ms = arena.allocate(rows * rowBytes, 64);
                    if (q4) {
                        Q4_0.quantize(wf.segment(), 0, ms, 0, rows * in);
                    } else {
                        Q8_0.quantize(wf.segment(), 0, ms, 0, rows * in);
                    }
                    ms.set(HALF, 0, (short) 0x0203);
                    if (rows > 1) {
                        ms.set(HALF, rowBytes, (short) 0xB555);
                    }
                    if (q4) {
                        Q4_0.dequantize(ms, 0, deq.segment(), 0, rows * in);
                        Q4_0Matmul.referenceF32(ms, 0, rows, in, x.segment(), 0, 1, want.segment(), 0);
                    } else {
                        Q8_0.dequantize(ms, 0, deq.segment(), 0, rows * in);
                        Q8_0Matmul.referenceF32(ms, 0, rows, in, x.segment(), 0, 1, want.segment(), 0);
                    }
                    if (t.vectorApi()) {
                        if (q4) {
                            Q4_0Matmul.matmulF32Parallel(ms, 0, rows, in, x.segment(), 0, 1, got.segment(), 0);
                        } else {
                            Q8_0Matmul.matmulF32Parallel(ms, 0, rows, in, x.segment(), 0, 1, got.segment(), 0);
                        }
                    } else {
                        try (SplitBlocks s = q4 ? SplitBlocks.q4_0(ms, 0, rows, in) : SplitBlocks.q8_0(ms, 0, rows, in)) {
                            t.kernel(SplitGemvKernels.class, "gemvSplit", Ops.elementGrid(rows), s.quants(),
                                    s.scales(), x, got, rows, in, q4 ? 4 : 8);
                        }
                    }
                    double tolRel = Math.max(Numerics.F32_REL, (in / 16.0 + 16) * Numerics.U_F32);
                    for (int o = 0; o < rows; o++) {
                        double sumAbs = 0;
                        for (int i = 0; i < in; i++) {
                            sumAbs += Math.abs((double) deq.getFloat((long) o * in + i) * xs[i]);
                        }
                        e.check(name + " " + rows + "x" + in + " row " + o, got.getFloat(o), want.getFloat(o), sumAbs,
                                tolRel);
                    }
                }
            }
        });
    }
}
