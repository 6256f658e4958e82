package dev.gale.kernels.quant;

import dev.gale.kernels.gemm.BlockScaledCodec;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * {@link Q4_0Packed}, {@link Q4_0Lanes}, {@link Q8_0Packed} and {@link Q8_0Blocks} as {@link BlockScaledCodec}s, so that
 * a prompt's tokens run through the F32 GEMM micro-kernel
 * ({@link dev.gale.kernels.gemm.GemmBlockScaled#gemmDequantized}) instead of one GEMV per token: each block of 32
 * weights is decoded once per packed panel and shared by every token of the prompt. The codes are
 * those of the packed layouts (see their class comments); the scale is the block's {@code d}, widened exactly.
 *
 * <p>{@link dev.gale.kernels.gemm.GemmKernel} asks for whole blocks into contiguous floats ({@code stride} 1): Q8_0
 * decodes those with vectors, Q4_0 in plain Java (see its decode).
 */
public final class PackedPanels {
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Q4_0: element {@code c} of a block is byte {@code c mod 16}'s low nibble for c < 16, its high one above, minus 8. */
    public static final BlockScaledCodec<Q4_0Packed> Q4_0 = new BlockScaledCodec<>() {
        @Override
        public int group(Q4_0Packed w) {
            return QuantVectors.QK;
        }

        @Override
        public void decode(Q4_0Packed w, int row, int k0, int kc, float[] dst, int off, int stride) {
            MemorySegment q = w.quants();
            // two 8-byte reads per block instead of 16 checked byte reads: decoding is the GEMM's only per-weight
            // cost that does not shrink with the token count. Plain Java on purpose: a vector form (byte shift,
            // byte-to-int conversion) was 1.1x faster here, but with it the 1B decode table's Q4_0 decode GEMV ran
            // 5.6-6.2 tok/s against 9.0-10.6 (two runs each): the JDK's vector templates share one type profile
            // across the JVM (README, 512-bit Q4_0). A branch-free copy of this loop for whole contiguous blocks
            // measured the same (F32/Q4_0 0.67-0.77 either way, 64x8192x2048, one thread).
            for (int half = 0; half < 2; half++) {
                long bytes = q.get(LONG, w.quantOffset(row, k0 / QuantVectors.QK, half));
                for (int j = 0; j < 8; j++) {
                    int v = (int) (bytes >>> (8 * j)) & 0xff;
                    int lo = 8 * half + j;
                    if (lo < kc) {
                        dst[off + lo * stride] = (v & 15) - 8;
                    }
                    if (lo + 16 < kc) {
                        dst[off + (lo + 16) * stride] = (v >>> 4) - 8;
                    }
                }
            }
        }

        @Override
        public float scale(Q4_0Packed w, int row, int g) {
            return w.scales().get(ValueLayout.JAVA_FLOAT_UNALIGNED, w.scaleOffset(row, g));
        }
    };

    /** Q4_0 in row lanes: byte {@code j} of a row's block sits {@code j·R} bytes after byte 0 ({@link Q4_0Lanes}). */
    public static final BlockScaledCodec<Q4_0Lanes> Q4_0_LANES = new BlockScaledCodec<>() {
        @Override
        public int group(Q4_0Lanes w) {
            return QuantVectors.QK;
        }

        @Override
        public void decode(Q4_0Lanes w, int row, int k0, int kc, float[] dst, int off, int stride) {
            int b = k0 / QuantVectors.QK;
            for (int j = 0; j < QuantVectors.QK / 2; j++) {
                int v = w.quantByte(row, b, j);
                if (j < kc) {
                    dst[off + j * stride] = (v & 15) - 8;
                }
                if (j + 16 < kc) {
                    dst[off + (j + 16) * stride] = (v >>> 4) - 8;
                }
            }
        }

        @Override
        public float scale(Q4_0Lanes w, int row, int g) {
            return w.scale(row, g);
        }

        @Override
        public boolean decodeColumns(Q4_0Lanes w, int row0, int n, int k0, int kc, boolean scaled, float[] dst, int off,
                int stride) {
            return w.decodeColumns(row0, n, k0, kc, scaled, dst, off, stride);
        }
    };

    /** Q8_0 in row lanes: quant {@code j} of a row's block sits {@code j·R} bytes after quant 0 ({@link Q8_0Lanes}). */
    public static final BlockScaledCodec<Q8_0Lanes> Q8_0_LANES = new BlockScaledCodec<>() {
        @Override
        public int group(Q8_0Lanes w) {
            return QuantVectors.QK;
        }

        @Override
        public void decode(Q8_0Lanes w, int row, int k0, int kc, float[] dst, int off, int stride) {
            int b = k0 / QuantVectors.QK;
            for (int j = 0; j < kc; j++) {
                dst[off + j * stride] = w.quant(row, b, j);
            }
        }

        @Override
        public float scale(Q8_0Lanes w, int row, int g) {
            return w.scale(row, g);
        }

        @Override
        public boolean decodeColumns(Q8_0Lanes w, int row0, int n, int k0, int kc, boolean scaled, float[] dst, int off,
                int stride) {
            return w.decodeColumns(row0, n, k0, kc, scaled, dst, off, stride);
        }
    };

    /** Q8_0 in llama.cpp's blocks ({@link Q8_0Blocks}): a block's 32 signed bytes follow its scale. */
    public static final BlockScaledCodec<Q8_0Blocks> Q8_0_BLOCKS = new BlockScaledCodec<>() {
        @Override
        public int group(Q8_0Blocks w) {
            return QuantVectors.QK;
        }

        @Override
        public void decode(Q8_0Blocks w, int row, int k0, int kc, float[] dst, int off, int stride) {
            int b = k0 / QuantVectors.QK;
            if (stride == 1 && kc == QuantVectors.QK && QuantVectors.VECTOR_OK) {
                w.decodeBlock(row, b, dst, off);
                return;
            }
            for (int e = 0; e < kc; e++) {
                dst[off + e * stride] = w.quant(row, b, e);
            }
        }

        @Override
        public float scale(Q8_0Blocks w, int row, int g) {
            return w.scale(row, g);
        }
    };

    /** Q8_0: the block's 32 signed bytes, read through the packed layout's permutation. */
    public static final BlockScaledCodec<Q8_0Packed> Q8_0 = new BlockScaledCodec<>() {
        @Override
        public int group(Q8_0Packed w) {
            return QuantVectors.QK;
        }

        @Override
        public void decode(Q8_0Packed w, int row, int k0, int kc, float[] dst, int off, int stride) {
            int b = k0 / QuantVectors.QK;
            if (stride == 1 && kc == QuantVectors.QK && QuantVectors.VECTOR_OK) {
                w.decodeBlock(row, b, dst, off);
                return;
            }
            for (int j = 0; j < kc; j++) {
                dst[off + j * stride] = w.quant(row, b, j);
            }
        }

        @Override
        public float scale(Q8_0Packed w, int row, int g) {
            return w.scale(row, g);
        }
    };

    private PackedPanels() {
    }
}
