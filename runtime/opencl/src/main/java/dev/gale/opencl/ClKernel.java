package dev.gale.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A kernel of a built program with its arguments. Not thread-safe: OpenCL kernel objects hold their arguments, so
 * each thread that launches concurrently needs its own (create one per plan session).
 */
public final class ClKernel implements AutoCloseable {
    private final ClContext context;
    private final MemorySegment kernel;
    private final String name;
    private final Arena scratch = Arena.ofConfined();
    private final MemorySegment slot = scratch.allocate(8, 8);

    ClKernel(ClContext context, MemorySegment kernel, String name) {
        this.context = context;
        this.kernel = kernel;
        this.name = name;
    }

    public String name() {
        return name;
    }

    public ClKernel arg(int index, ClBuffer buffer) {
        slot.set(ValueLayout.ADDRESS, 0, buffer.handle());
        return set(index, 8, slot);
    }

    public ClKernel arg(int index, int value) {
        slot.set(ValueLayout.JAVA_INT, 0, value);
        return set(index, 4, slot);
    }

    public ClKernel arg(int index, long value) {
        slot.set(ValueLayout.JAVA_LONG, 0, value);
        return set(index, 8, slot);
    }

    public ClKernel arg(int index, float value) {
        slot.set(ValueLayout.JAVA_FLOAT, 0, value);
        return set(index, 4, slot);
    }

    /** A {@code __local} argument of {@code bytes} bytes. */
    public ClKernel local(int index, long bytes) {
        return set(index, bytes, MemorySegment.NULL);
    }

    private ClKernel set(int index, long size, MemorySegment value) {
        int rc;
        try {
            rc = (int) context.native_().setKernelArg.invokeExact(kernel, index, size, value);
        } catch (Throwable t) {
            throw new OpenClException("clSetKernelArg failed: " + t);
        }
        ClNative.check("clSetKernelArg(" + name + ", arg " + index + ")", rc);
        return this;
    }

    MemorySegment handle() {
        return kernel;
    }

    @Override
    public void close() {
        context.release("clReleaseKernel", context.native_().releaseKernel, kernel);
        scratch.close();
    }
}
