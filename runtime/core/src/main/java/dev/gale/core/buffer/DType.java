package dev.gale.core.buffer;

/**
 * Element types of Gale buffers. {@code Q4} packs two 4-bit values per byte, element {@code 2k} in the low nibble of
 * byte {@code k}; quantized formats that need scales keep them in separate buffers with an explicit layout.
 */
public enum DType {
    F32(32), F16(16), BF16(16), I8(8), U8(8), I32(32), Q4(4);

    private final int bits;

    DType(int bits) {
        this.bits = bits;
    }

    public int bits() {
        return bits;
    }

    /** Bytes needed to hold {@code count} elements (Q4 rounds up to whole bytes). */
    public long byteSize(long count) {
        if (count < 0) {
            throw new IllegalArgumentException("negative element count " + count);
        }
        return bits == 4 ? (count + 1) / 2 : Math.multiplyExact(count, bits / 8);
    }

    public boolean isFloat() {
        return this == F32 || this == F16 || this == BF16;
    }
}
