package dev.gale.models.gguf;

import dev.gale.models.WeightType;

/**
 * A tensor as a GGUF file describes it.
 *
 * @param dims       ggml order: {@code dims[0]} is the contiguous axis (a {@code [out, in]} matrix has {@code [in, out]})
 * @param offset     of its data, relative to the start of the data section
 * @param infoOffset where its description starts in the file, for error messages
 */
public record GgufTensorInfo(String name, long[] dims, WeightType type, long offset, long infoOffset) {
    public GgufTensorInfo {
        dims = dims.clone();
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    /** Row-major shape, outermost first: the reverse of {@link #dims()}. */
    public long[] shape() {
        long[] s = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            s[i] = dims[dims.length - 1 - i];
        }
        return s;
    }

    public long elements() {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    public long byteSize() {
        return type.byteSize(elements());
    }
}
