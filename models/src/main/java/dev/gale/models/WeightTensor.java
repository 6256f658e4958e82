package dev.gale.models;

import dev.gale.core.buffer.Buffer;
import java.util.Arrays;

/**
 * One weight tensor: its name, storage type, row-major shape ({@code shape[last]} is the contiguous axis, so a
 * {@code [out, in]} matrix has rows of {@code in} elements) and the buffer holding it, usually a view of a mapped file.
 */
public record WeightTensor(String name, WeightType type, long[] shape, Buffer data) {
    public WeightTensor {
        shape = shape.clone();
        long n = 1;
        for (long d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor '" + name + "' has dimension " + d + " in " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        if (data.length() != type.bufferLength(n)) {
            throw new IllegalArgumentException("tensor '" + name + "' " + type + Arrays.toString(shape) + " needs "
                    + type.bufferLength(n) + " buffer elements, buffer has " + data.length());
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Length of the contiguous axis. */
    public long rowLength() {
        return shape[shape.length - 1];
    }

    public long rows() {
        return elements() / rowLength();
    }

    public long byteSize() {
        return type.byteSize(elements());
    }

    @Override
    public String toString() {
        return name + " " + type + Arrays.toString(shape);
    }
}
