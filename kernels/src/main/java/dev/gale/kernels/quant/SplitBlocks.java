package dev.gale.kernels.quant;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Q4_0 or Q8_0 weights with the block scales split out of llama.cpp's blocks: the layout {@link SplitGemvKernels}
 * read on a device. Two buffers:
 * <pre>
 *   quants: I8, row r at r·(in/32)·B bytes, its blocks' quant bytes back to back
 *           Q4_0 (B = 16): ggml's byte j (element j in the low nibble, j + 16 in the high one) XOR 0x88
 *           Q8_0 (B = 32): ggml's bytes as they are
 *   scales: F32 [rows][in/32], the fp16 d of each block widened once (exactly)
 * </pre>
 * The XOR makes each Q4_0 nibble the 4-bit two's complement of {@code nib − 8}, so the signed byte {@code s} is
 * {@code 16·(hi − 8) + (lo ^ 8)}: {@code s >> 4} is {@code hi − 8} and {@code (s << 28) >> 28} is {@code lo − 8},
 * three integer instructions for both instead of a mask, a shift and two subtractions.
 * Why a device layout at all: in ggml's 18- and 34-byte blocks a row's quants are only 2-byte aligned and every block
 * needs its fp16 scale decoded in integer code (OpenCL C 1.2 without {@code cl_khr_fp16} has only {@code vload_half},
 * which PoCL implements in software). With the scales apart, a work item walks two contiguous streams and a CPU
 * OpenCL compiler turns a block into a few wide loads, integer widenings and FMAs (see {@link SplitGemvKernels}).
 * The price is 2 more bytes per block (20 instead of 18 for Q4_0, 36 instead of 34 for Q8_0).
 *
 * <p>Built once from the block layout (host repack, {@link #q4_0}, {@link #q8_0}); immutable after. The buffers are
 * owned by this object and freed by {@link #close()}.
 */
public final class SplitBlocks implements AutoCloseable {
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;
    /** XOR 0x88 on every byte of a word. */
    private static final long NIBBLE_FLIP = 0x8888888888888888L;

    private final boolean q4;
    private final int rows;
    private final int in;
    private final Buffer quants;
    private final Buffer scales;

    private SplitBlocks(boolean q4, int rows, int in, Buffer quants, Buffer scales) {
        this.q4 = q4;
        this.rows = rows;
        this.in = in;
        this.quants = quants;
        this.scales = scales;
    }

    /** Splits {@code rows} Q4_0 rows of {@code in} elements at {@code wOff} of {@code w} (ggml's blocks). */
    public static SplitBlocks q4_0(MemorySegment w, long wOff, int rows, int in) {
        return split(true, w, wOff, rows, in);
    }

    /** Splits {@code rows} Q8_0 rows of {@code in} elements at {@code wOff} of {@code w} (ggml's blocks). */
    public static SplitBlocks q8_0(MemorySegment w, long wOff, int rows, int in) {
        return split(false, w, wOff, rows, in);
    }

    private static SplitBlocks split(boolean q4, MemorySegment w, long wOff, int rows, int in) {
        String what = q4 ? "Q4_0 split" : "Q8_0 split";
        QuantVectors.requireBlocks(in, what);
        QuantVectors.requirePositive(rows, what + " rows");
        int blockBytes = q4 ? Q4_0.BLOCK_BYTES : Q8_0.BLOCK_BYTES;
        int quantBytes = blockBytes - 2;
        long blocks = (long) rows * (in / QuantVectors.QK);
        QuantVectors.requireBytes(w, wOff, blocks * blockBytes, what + " source");
        Buffer quants = Buffers.allocate(what + " quants", DType.I8, blocks * quantBytes);
        Buffer scales = null;
        try {
            scales = Buffers.allocate(what + " scales", DType.F32, blocks);
            MemorySegment q = quants.segment();
            MemorySegment s = scales.segment();
            for (long b = 0; b < blocks; b++) {
                long o = wOff + b * blockBytes;
                s.set(QuantVectors.F32, 4 * b, QuantVectors.f16(w, o));
                MemorySegment.copy(w, o + 2, q, b * quantBytes, quantBytes);
                if (q4) {
                    long j = b * quantBytes;
                    q.set(U64, j, q.get(U64, j) ^ NIBBLE_FLIP);
                    q.set(U64, j + 8, q.get(U64, j + 8) ^ NIBBLE_FLIP);
                }
            }
        } catch (RuntimeException | Error e) {
            quants.close();
            if (scales != null) {
                scales.close();
            }
            throw e;
        }
        // Never written again: read-only views let a device backend copy them to its memory once.
        return new SplitBlocks(q4, rows, in, quants.readOnly(), scales == null ? null : scales.readOnly());
    }

    public boolean isQ4() {
        return q4;
    }

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    /** The quant bytes (I8): Q4_0 nibble pairs XOR 0x88, or Q8_0 quants. */
    public Buffer quants() {
        return quants;
    }

    /** The F32 block scales, {@code [rows][in/32]}. */
    public Buffer scales() {
        return scales;
    }

    /** Bytes a GEMV streams: quants and scales. */
    public long byteSize() {
        return quants.byteSize() + scales.byteSize();
    }

    @Override
    public void close() {
        quants.close();
        scales.close();
    }
}
