package dev.gale.core.buffer;

import java.util.Arrays;

/**
 * Shape and strides of a tensor, in elements, over a buffer of one dtype. Descriptors are small immutable values;
 * the data lives in a {@link Buffer}. Row-major (the last axis is contiguous) unless strides say otherwise.
 */
public record TensorDesc(DType dtype, long[] shape, long[] strides) {

    public TensorDesc {
        if (shape.length != strides.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " and strides "
                    + Arrays.toString(strides) + " differ in rank");
        }
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
        }
        shape = shape.clone();
        strides = strides.clone();
    }

    /** A contiguous row-major descriptor. */
    public static TensorDesc of(DType dtype, long... shape) {
        long[] strides = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = s;
            s = Math.multiplyExact(s, shape[i]);
        }
        return new TensorDesc(dtype, shape, strides);
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int axis) {
        return shape[axis < 0 ? shape.length + axis : axis];
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public long[] strides() {
        return strides.clone();
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** One past the largest element index this descriptor can address (0 for an empty tensor). */
    public long span() {
        long max = 0;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == 0) {
                return 0;
            }
            max += (shape[i] - 1) * strides[i];
        }
        return max + 1;
    }

    public boolean isContiguous() {
        return Arrays.equals(strides, of(dtype, shape).strides);
    }

    public boolean sameShape(TensorDesc other) {
        return dtype == other.dtype && Arrays.equals(shape, other.shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorDesc t && dtype == t.dtype && Arrays.equals(shape, t.shape)
                && Arrays.equals(strides, t.strides);
    }

    @Override
    public int hashCode() {
        return dtype.hashCode() * 31 * 31 + Arrays.hashCode(shape) * 31 + Arrays.hashCode(strides);
    }

    /** For example {@code F32[4096, 14336]}; strides are shown only when not contiguous. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(dtype.name()).append(Arrays.toString(shape));
        if (!isContiguous()) {
            b.append(" strides ").append(Arrays.toString(strides));
        }
        return b.toString();
    }
}
