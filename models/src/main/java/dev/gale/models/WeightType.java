package dev.gale.models;

import dev.gale.core.buffer.DType;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q8_0;

/**
 * How a weight tensor's elements are stored, with ggml's type ids. F32 and F16 tensors are Gale buffers of that
 * dtype; Q8_0 and Q4_0 tensors are {@link DType#U8} buffers holding llama.cpp's blocks byte for byte (the layout of
 * {@link Q8_0} and {@link Q4_0}), because Gale's {@link DType} has no block-quantized type: the decoder repacks them
 * once at load.
 */
public enum WeightType {
    F32(0, 1, 4, DType.F32),
    F16(1, 1, 2, DType.F16),
    Q4_0(2, dev.gale.kernels.quant.Q4_0.BLOCK, dev.gale.kernels.quant.Q4_0.BLOCK_BYTES, DType.U8),
    Q8_0(8, dev.gale.kernels.quant.Q8_0.BLOCK, dev.gale.kernels.quant.Q8_0.BLOCK_BYTES, DType.U8),
    /**
     * ggml's plain int8 tensor (GGML_TYPE_I8). Gale stores the packed codes of a W4Ax matrix as one (two 4-bit codes
     * per byte, {@link dev.gale.kernels.quant.W4Weights}'s layout; see {@link W4AxMatrices}); a model does not
     * multiply by an I8 tensor directly.
     */
    I8(24, 1, 1, DType.I8);

    private final int ggmlId;
    private final int blockSize;
    private final int blockBytes;
    private final DType bufferType;

    WeightType(int ggmlId, int blockSize, int blockBytes, DType bufferType) {
        this.ggmlId = ggmlId;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.bufferType = bufferType;
    }

    public int ggmlId() {
        return ggmlId;
    }

    /** Elements per block (1 for F32/F16). Rows must be a multiple of this. */
    public int blockSize() {
        return blockSize;
    }

    public int blockBytes() {
        return blockBytes;
    }

    /** The dtype of the Gale buffer that holds a tensor of this type. */
    public DType bufferType() {
        return bufferType;
    }

    public boolean isQuantized() {
        return blockSize > 1;
    }

    /** Bytes of {@code elements} values; {@code elements} must be a multiple of {@link #blockSize()}. */
    public long byteSize(long elements) {
        if (elements < 0 || elements % blockSize != 0) {
            throw new IllegalArgumentException(elements + " elements is not a whole number of " + this + " blocks");
        }
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }

    /** Buffer elements that hold {@code elements} values: the values themselves, or the bytes of their blocks. */
    public long bufferLength(long elements) {
        return isQuantized() ? byteSize(elements) : elements;
    }

    /** The type with ggml id {@code id}, or null when Gale does not read that type. */
    public static WeightType ofGgmlId(long id) {
        for (WeightType t : values()) {
            if (t.ggmlId == id) {
                return t;
            }
        }
        return null;
    }
}
