package dev.gale.opencl;

import dev.gale.core.buffer.Buffer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.TimeUnit;

/**
 * An OpenCL context on one device with one in-order, profiling command queue. Buffers, programs and launches go
 * through it. Waits have a deadline ({@code -Dgale.opencl.timeoutSeconds}, default 120) so a faulting kernel is an
 * error, not a hang. Not thread-safe; use one context per thread or guard it.
 */
public final class ClContext implements AutoCloseable {
    private static final long MEM_READ_WRITE = 1;
    private static final long MEM_USE_HOST_PTR = 8;
    private static final long QUEUE_PROFILING_ENABLE = 2;
    private static final int CL_MEM_OBJECT_ALLOCATION_FAILURE = -4;
    private static final int CL_OUT_OF_RESOURCES = -5;
    private static final int CL_INVALID_BUFFER_SIZE = -61;

    private final ClNative n;
    private final OpenClDevice device;
    private final MemorySegment context;
    private final MemorySegment queue;
    private final Arena arena = Arena.ofShared();
    private final ProgramCache programs;
    private final long timeoutNanos;
    private boolean closed;

    private ClContext(OpenClDevice device, long timeoutNanos) {
        this.n = ClNative.get();
        this.device = device;
        this.timeoutNanos = timeoutNanos;
        MemorySegment err = arena.allocate(ValueLayout.JAVA_INT);
        MemorySegment devs = arena.allocate(ValueLayout.ADDRESS);
        devs.set(ValueLayout.ADDRESS, 0, device.handle());
        try {
            context = (MemorySegment) n.createContext.invokeExact(MemorySegment.NULL, 1, devs, MemorySegment.NULL,
                    MemorySegment.NULL, err);
            ClNative.check("clCreateContext(" + device.id() + ")", err.get(ValueLayout.JAVA_INT, 0));
            queue = (MemorySegment) n.createCommandQueue.invokeExact(context, device.handle(), QUEUE_PROFILING_ENABLE,
                    err);
            ClNative.check("clCreateCommandQueue(" + device.id() + ")", err.get(ValueLayout.JAVA_INT, 0));
        } catch (OpenClException e) {
            arena.close();
            throw e;
        } catch (Throwable t) {
            arena.close();
            throw new OpenClException("creating an OpenCL context failed: " + t);
        }
        this.programs = new ProgramCache(this);
    }

    public static ClContext create(OpenClDevice device) {
        return new ClContext(device, TimeUnit.SECONDS.toNanos(Long.getLong("gale.opencl.timeoutSeconds", 120)));
    }

    /** A context whose waits give up after {@code timeout}. */
    public static ClContext create(OpenClDevice device, java.time.Duration timeout) {
        return new ClContext(device, timeout.toNanos());
    }

    public OpenClDevice device() {
        return device;
    }

    ClNative native_() {
        return n;
    }

    MemorySegment handle() {
        return context;
    }

    long timeoutNanos() {
        return timeoutNanos;
    }

    /** Device memory of {@code bytes} bytes. */
    public ClBuffer allocate(long bytes) {
        return create(bytes, MEM_READ_WRITE, MemorySegment.NULL, null, false, "device buffer");
    }

    /**
     * A device view of {@code host}: the host memory itself when the device shares host memory and the address is
     * aligned as the device asks, else separate device memory that {@link #write}/{@link #read} fill.
     */
    public ClBuffer mirror(Buffer host) {
        MemorySegment seg = host.segment();
        boolean shared = device.capabilities().unifiedMemory()
                && seg.address() % Math.max(1, Math.min(device.baseAlignmentBytes(), 64)) == 0;
        if (shared) {
            return create(seg.byteSize(), MEM_READ_WRITE | MEM_USE_HOST_PTR, seg, host, true, "'" + host.name() + "'");
        }
        return create(seg.byteSize(), MEM_READ_WRITE, MemorySegment.NULL, host, false, "'" + host.name() + "'");
    }

    private ClBuffer create(long bytes, long flags, MemorySegment hostPtr, Buffer host, boolean zeroCopy, String what) {
        if (bytes > device.maxAllocationBytes()) {
            throw new DeviceOutOfMemoryException("cannot allocate " + what + " of " + bytes + " bytes on "
                    + device.id() + ": the device's largest allocation is " + device.maxAllocationBytes()
                    + " bytes (global memory " + device.capabilities().globalMemoryBytes() + " bytes)");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment mem = (MemorySegment) n.createBuffer.invokeExact(context, flags, Math.max(1, bytes), hostPtr,
                    err);
            int rc = err.get(ValueLayout.JAVA_INT, 0);
            if (rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES || rc == CL_INVALID_BUFFER_SIZE) {
                throw new DeviceOutOfMemoryException("clCreateBuffer(" + what + "): " + ClError.name(rc)
                        + ": requested " + bytes + " bytes on " + device.id() + "; the device has "
                        + device.capabilities().globalMemoryBytes() + " bytes of global memory, largest allocation "
                        + device.maxAllocationBytes());
            }
            ClNative.check("clCreateBuffer(" + what + ", " + bytes + " bytes)", rc);
            return new ClBuffer(this, mem, bytes, host, zeroCopy);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clCreateBuffer failed: " + t);
        }
    }

    /** Copies the host buffer into device memory (nothing to do for zero-copy buffers); returns device nanos. */
    public long write(ClBuffer buffer) {
        if (buffer.zeroCopy() || buffer.host() == null) {
            return 0;
        }
        return transfer(n.enqueueWriteBuffer, "clEnqueueWriteBuffer", buffer);
    }

    /** Copies device memory back into the host buffer (for zero-copy buffers: waits for the queue only). */
    public long read(ClBuffer buffer) {
        if (buffer.zeroCopy() || buffer.host() == null) {
            finish();
            return 0;
        }
        return transfer(n.enqueueReadBuffer, "clEnqueueReadBuffer", buffer);
    }

    private long transfer(MethodHandle h, String call, ClBuffer buffer) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ev = a.allocate(ValueLayout.ADDRESS);
            int rc = (int) h.invokeExact(queue, buffer.handle(), 0, 0L, buffer.byteSize(), buffer.host().segment(), 0,
                    MemorySegment.NULL, ev);
            ClNative.check(call + "('" + buffer.host().name() + "', " + buffer.byteSize() + " bytes)", rc);
            try (ClEvent e = new ClEvent(this, ev.get(ValueLayout.ADDRESS, 0), call)) {
                flush();
                return e.await(timeoutNanos).deviceNanos();
            }
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException(call + " failed: " + t);
        }
    }

    /** Builds (or fetches from the memory and disk caches) a program from OpenCL C source. */
    public ClProgram program(String source, String options) {
        return programs.get(source, options == null ? "" : options);
    }

    ProgramCache programCache() {
        return programs;
    }

    /**
     * Enqueues {@code kernel} over {@code global} work items in groups of {@code local} (null lets the driver
     * choose). The global size must be a multiple of the local size in each dimension, as OpenCL 1.2 requires.
     */
    public ClEvent launch(ClKernel kernel, long[] global, long[] local) {
        int dims = global.length;
        if (dims < 1 || dims > 3 || (local != null && local.length != dims)) {
            throw new IllegalArgumentException("launch of " + kernel.name() + ": grid must have 1-3 dimensions, got "
                    + dims + (local == null ? "" : " and a local size of " + local.length));
        }
        for (int d = 0; d < dims; d++) {
            if (global[d] <= 0 || (local != null && (local[d] <= 0 || global[d] % local[d] != 0))) {
                throw new IllegalArgumentException("launch of " + kernel.name() + ": global size " + global[d]
                        + " in dimension " + d + " must be positive and a multiple of the local size "
                        + (local == null ? "" : local[d]));
            }
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocateFrom(ValueLayout.JAVA_LONG, global);
            MemorySegment l = local == null ? MemorySegment.NULL : a.allocateFrom(ValueLayout.JAVA_LONG, local);
            MemorySegment ev = a.allocate(ValueLayout.ADDRESS);
            int rc = (int) n.enqueueNDRangeKernel.invokeExact(queue, kernel.handle(), dims, MemorySegment.NULL, g, l, 0,
                    MemorySegment.NULL, ev);
            ClNative.check("clEnqueueNDRangeKernel(" + kernel.name() + ")", rc);
            return new ClEvent(this, ev.get(ValueLayout.ADDRESS, 0), "kernel " + kernel.name());
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clEnqueueNDRangeKernel failed: " + t);
        }
    }

    /** Launches and waits (with the context's deadline); returns the device time in nanoseconds. */
    public long run(ClKernel kernel, long[] global, long[] local) {
        try (ClEvent e = launch(kernel, global, local)) {
            flush();
            return e.await(timeoutNanos).deviceNanos();
        }
    }

    public void flush() {
        try {
            ClNative.check("clFlush", (int) n.flush.invokeExact(queue));
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clFlush failed: " + t);
        }
    }

    /** Waits for every queued command. */
    public void finish() {
        try {
            ClNative.check("clFinish", (int) n.finish.invokeExact(queue));
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clFinish failed: " + t);
        }
    }

    void release(String call, MethodHandle h, MemorySegment handle) {
        try {
            int rc = (int) h.invokeExact(handle);
            ClNative.check(call, rc);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException(call + " failed: " + t);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        programs.close();
        release("clReleaseCommandQueue", n.releaseCommandQueue, queue);
        release("clReleaseContext", n.releaseContext, context);
        arena.close();
    }
}
