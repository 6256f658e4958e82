package dev.gale.opencl;

import dev.gale.core.buffer.Buffer;
import java.lang.foreign.MemorySegment;

/**
 * A device memory object. When the device shares host memory and the host buffer is suitably aligned, it wraps the
 * host memory itself ({@code CL_MEM_USE_HOST_PTR}): no copy ever happens and {@link #zeroCopy()} is true. Otherwise
 * it is separate device memory and transfers copy explicitly.
 */
public final class ClBuffer implements AutoCloseable {
    private final ClContext context;
    private final MemorySegment mem;
    private final long bytes;
    private final Buffer host;
    private final boolean zeroCopy;
    private boolean released;

    ClBuffer(ClContext context, MemorySegment mem, long bytes, Buffer host, boolean zeroCopy) {
        this.context = context;
        this.mem = mem;
        this.bytes = bytes;
        this.host = host;
        this.zeroCopy = zeroCopy;
    }

    public long byteSize() {
        return bytes;
    }

    /** True when this object is the host buffer's own memory. */
    public boolean zeroCopy() {
        return zeroCopy;
    }

    /** The host buffer this mirrors, or null for device-only memory. */
    public Buffer host() {
        return host;
    }

    MemorySegment handle() {
        if (released) {
            throw new OpenClException("OpenCL buffer of " + bytes + " bytes used after close");
        }
        return mem;
    }

    ClContext context() {
        return context;
    }

    @Override
    public void close() {
        if (!released) {
            released = true;
            context.release("clReleaseMemObject", context.native_().releaseMemObject, mem);
        }
    }
}
