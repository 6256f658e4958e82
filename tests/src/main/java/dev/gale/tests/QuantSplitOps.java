package dev.gale.tests;

import dev.gale.kernels.gemm.GemvGeometry;
import dev.gale.kernels.quant.SplitBlocks;
import dev.gale.kernels.quant.SplitGemvKernels;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The Q8_0 and Q4_0 GEMV on {@link SplitBlocks} (the graph op's device path for one token) in the cross-device
 * matrix, against the block-layout scalar reference; on the vector-api target, the decode path a model runs, as the
 * {@code q4_0_gemv} check does ({@link QuantCase}). Every case pokes a subnormal fp16 scale into row 0's
 * first block, a negative scale into row 1's and an all-zero block (scale 0) into the last row; the second case has
 * an +Inf activation (so a zero nibble meets it: NaN, as in the reference).
 */
public final class QuantSplitOps {
    /** Shapes {rows, in}: one block, odd row counts around the work-group size, long rows. */
    private static final int[][] SHAPES = {{1, 32}, {7, 64}, {33, 4064}, {4097, 64}, {5, 4128}, {65, 14336}};

    private QuantSplitOps() {
    }

    /**
     * {@code group} 0: {@code gemvSplit}, one item per row; else {@code gemvSplitGroup} with work groups of that
     * many items (256 is what GPUs get; 8, one block per step, makes every row take many steps).
     */
    static OpCheck gemv(boolean q4, int group) {
        String name = (q4 ? "q4_0_gemv_split" : "q8_0_gemv_split") + (group == 0 ? "" : "_group" + group);
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
                try (QuantCase q = new QuantCase(q4, ws, xs, 1, rows, in)) {
                    if (t.vectorApi()) {
                        q.runVectorApi();
                    } else {
                        try (SplitBlocks s = q4 ? SplitBlocks.q4_0(q.w.segment(), 0, rows, in)
                                : SplitBlocks.q8_0(q.w.segment(), 0, rows, in)) {
                            if (group == 0) {
                                t.kernel(SplitGemvKernels.class, "gemvSplit", Ops.elementGrid(rows), s.quants(),
                                        s.scales(), q.x, q.got, rows, in, q4 ? 4 : 8);
                            } else {
                                t.kernel(SplitGemvKernels.class, "gemvSplitGroup",
                                        GemvGeometry.rowGroups(rows, group), s.quants(), s.scales(), q.x, q.got, rows,
                                        in, q4 ? 4 : 8, group);
                            }
                        }
                    }
                    q.check(e, name, t.vectorApi());
                }
            }
        });
    }
}
