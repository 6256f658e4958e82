package dev.gale.kernels.quant;

import dev.gale.kernels.gemm.BlockScaledCodec;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@link W4Weights} as {@link BlockScaledCodec} for the prefill GEMM ({@link dev.gale.kernels.gemm.GemmBlockScaled}):
 * a group of one row decoded to its signed codes as F32 (the layout's nibble rules, see {@link W4Weights}), and the
 * group scale. The codes are in [−8, 7], which {@link W4AxMatmul}'s pairing of A4 blocks (products in [−56, 64])
 * relies on.
 */
final class W4Panels implements BlockScaledCodec<W4Weights> {
    static final W4Panels CODEC = new W4Panels();
    private static final int L = QuantVectors.L;
    private static final IntVector C28 = IntVector.broadcast(QuantVectors.I, 28);
    private static final IntVector C4 = IntVector.broadcast(QuantVectors.I, 4);

    private W4Panels() {
    }

    @Override
    public int group(W4Weights w) {
        return w.group();
    }

    @Override
    public void decode(W4Weights w, int row, int k0, int kc, float[] dst, int off, int stride) {
        MemorySegment codes = w.codes();
        int c0 = k0 % W4Weights.BLOCK;
        long base = (long) row * (w.in() / 2) + (long) (k0 / W4Weights.BLOCK) * W4Weights.BLOCK_BYTES;
        if (stride == 1 && QuantVectors.VECTOR_OK && kc % L == 0 && c0 + kc <= W4Weights.BLOCK) {
            decodeRow(codes, base, c0, kc, dst, off);
            return;
        }
        for (int k = 0; k < kc; k++) {
            int c = c0 + k;
            int v = codes.get(ValueLayout.JAVA_BYTE, base + (c & (W4Weights.BLOCK_BYTES - 1)));
            // element c < 64 is the low nibble (moved to the top, shifted back arithmetically), else the high one
            dst[off + k * stride] = c < W4Weights.BLOCK_BYTES ? (v << 28) >> 28 : v >> 4;
        }
    }

    /**
     * The contiguous decode ({@code stride} 1, within one block), L codes per step: the byte loads widen to int lanes
     * and the nibble rules run there (the shift counts as vectors: scalar counts did not intrinsify here). Elements
     * {@code c < 64} and {@code c + 64} share their bytes, but a group of 32 or 64 holds only one of them, so each
     * step loads its own bytes.
     */
    private static void decodeRow(MemorySegment codes, long base, int c0, int kc, float[] dst, int off) {
        for (int k = 0; k < kc; k += L) {
            int c = c0 + k;
            IntVector v = (IntVector) ByteVector.fromMemorySegment(QuantVectors.B, codes,
                    base + (c & (W4Weights.BLOCK_BYTES - 1)), QuantVectors.LE).convertShape(VectorOperators.B2I,
                    QuantVectors.I, 0);
            IntVector q = c < W4Weights.BLOCK_BYTES ? v.lanewise(VectorOperators.LSHL, C28)
                    .lanewise(VectorOperators.ASHR, C28) : v.lanewise(VectorOperators.ASHR, C4);
            ((FloatVector) q.convert(VectorOperators.I2F, 0)).intoArray(dst, off + k);
        }
    }

    @Override
    public float scale(W4Weights w, int row, int g) {
        return w.scales().get(W4Weights.F32, 4L * ((long) row * (w.in() / w.group()) + g));
    }
}
