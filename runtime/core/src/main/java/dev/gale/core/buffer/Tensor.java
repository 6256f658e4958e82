package dev.gale.core.buffer;

import dev.gale.core.ShapeMismatchException;

/** A buffer seen through a shape and strides. The descriptor must fit inside the buffer. */
public record Tensor(Buffer buffer, TensorDesc desc) {
    public Tensor {
        if (buffer.dtype() != desc.dtype()) {
            throw new ShapeMismatchException("buffer '" + buffer.name() + "' holds " + buffer.dtype()
                    + " but the view is " + desc);
        }
        if (desc.span() > buffer.length()) {
            throw new ShapeMismatchException("view " + desc + " needs " + desc.span() + " elements but buffer '"
                    + buffer.name() + "' has " + buffer.length());
        }
    }

    public long dim(int axis) {
        return desc.dim(axis);
    }

    @Override
    public String toString() {
        return "'" + buffer.name() + "' " + desc;
    }
}
