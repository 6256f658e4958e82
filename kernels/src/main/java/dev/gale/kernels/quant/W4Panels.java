package dev.gale.kernels.quant;

import dev.gale.kernels.gemm.BlockScaledCodec;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@link W4Weights} as {@link BlockScaledCodec} for the prefill GEMM ({@link dev.gale.kernels.gemm.GemmBlockScaled}):
 * a group of one row decoded to its signed codes as F32 (the layout's nibble rules, see {@link W4Weights}), and the
 * group scale. The codes are in [−8, 7], which {@link W4AxMatmul}'s pairing of A4 blocks (products in [−56, 64])
 * relies on.
 */
final class W4Panels implements BlockScaledCodec<W4Weights> {
    static final W4Panels CODEC = new W4Panels();

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
        for (int k = 0; k < kc; k++) {
            int c = c0 + k;
            int v = codes.get(ValueLayout.JAVA_BYTE, base + (c & (W4Weights.BLOCK_BYTES - 1)));
            // element c < 64 is the low nibble (moved to the top, shifted back arithmetically), else the high one
            dst[off + k * stride] = c < W4Weights.BLOCK_BYTES ? (v << 28) >> 28 : v >> 4;
        }
    }

    @Override
    public float scale(W4Weights w, int row, int g) {
        return w.scales().get(W4Weights.F32, 4L * ((long) row * (w.in() / w.group()) + g));
    }
}
