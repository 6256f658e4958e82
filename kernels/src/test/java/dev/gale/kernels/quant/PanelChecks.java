package dev.gale.kernels.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.Numerics;
import dev.gale.kernels.gemm.BlockScaledCodec;
import dev.gale.kernels.gemm.GemmBlockScaled;
import dev.gale.kernels.quant.QuantMatmulTest.Fmt;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Checks of a packed layout's panel codec ({@link PackedPanels}) against the llama.cpp rows it was packed from,
 * shared by the tests of the packed layouts.
 */
final class PanelChecks {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private PanelChecks() {
    }

    /**
     * Every block of every row, decoded contiguously (the path GemmKernel uses) and down a strided column, equals the
     * source codes, writes nothing outside its 32 floats, and the scale is the block's {@code d}.
     */
    static <W> void decodesTheSourceCodes(BlockScaledCodec<W> codec, W packed, Fmt fmt, MemorySegment w, int rows,
            int in) {
        long rb = fmt.rowBytes(in);
        float[] row = new float[40];
        float[] column = new float[3 * 32 + 1];
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < in / 32; b++) {
                Arrays.fill(row, Float.NaN);
                codec.decode(packed, r, 32 * b, 32, row, 3, 1);
                codec.decode(packed, r, 32 * b, 32, column, 1, 3);
                assertEquals(fmt.d(w, r * rb, b), codec.scale(packed, r, b));
                for (int k = 0; k < 32; k++) {
                    float want = fmt.q(w, r * rb, 32 * b + k);
                    assertEquals(want, row[3 + k], fmt + " row " + r + " block " + b + " element " + k);
                    assertEquals(want, column[1 + 3 * k], fmt + " strided, row " + r + " block " + b + " " + k);
                }
                assertTrue(Float.isNaN(row[2]) && Float.isNaN(row[35]), "wrote outside its 32 floats");
            }
        }
    }

    /**
     * The prefill GEMM over the codec's panels against the exact product of the dequantized weights (each
     * {@code d·q} is exact in F32) in double, within the F32 dot bound of {@code Σ|w·x|}; returns the GEMM's output.
     */
    static <W> MemorySegment gemmWithinDotBound(BlockScaledCodec<W> codec, W packed, Fmt fmt, MemorySegment w,
            MemorySegment x, int tokens, int rows, int in, Arena arena) {
        MemorySegment got = arena.allocate(4L * rows * tokens);
        GemmBlockScaled.gemmDequantized(codec, packed, x, 0, got, 0, tokens, rows, in);
        long rb = fmt.rowBytes(in);
        for (int t = 0; t < tokens; t++) {
            for (int r = 0; r < rows; r++) {
                double exact = 0;
                double abs = 0;
                for (int k = 0; k < in; k++) {
                    double term = (float) (fmt.d(w, r * rb, k / 32) * fmt.q(w, r * rb, k))
                            * x.get(F, 4L * ((long) t * in + k));
                    exact += term;
                    abs += Math.abs(term);
                }
                float y = got.get(F, 4L * ((long) t * rows + r));
                assertTrue(Math.abs(y - exact) <= Numerics.dotBound(abs, in), fmt + " " + in + "x" + rows + "x"
                        + tokens + " t" + t + " r" + r + ": " + y + " vs " + exact);
            }
        }
        return got;
    }
}
