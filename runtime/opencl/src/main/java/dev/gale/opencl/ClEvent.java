package dev.gale.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.locks.LockSupport;

/** A queued command's event: waited on with a deadline, then asked for its profiled device time. */
public final class ClEvent implements AutoCloseable {
    private static final int EVENT_COMMAND_EXECUTION_STATUS = 0x11D3;
    private static final int PROFILING_COMMAND_START = 0x1282;
    private static final int PROFILING_COMMAND_END = 0x1283;

    private final ClContext context;
    private final MemorySegment event;
    private final String what;
    private boolean released;

    ClEvent(ClContext context, MemorySegment event, String what) {
        this.context = context;
        this.event = event;
        this.what = what;
    }

    /**
     * Waits until the command completes, at most {@code timeoutNanos}. A command that fails or does not finish in
     * time becomes an exception naming it; the caller never hangs on a faulting kernel.
     */
    public ClEvent await(long timeoutNanos) {
        ClNative n = context.native_();
        long deadline = System.nanoTime() + timeoutNanos;
        long spinUntil = System.nanoTime() + 200_000;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment status = a.allocate(ValueLayout.JAVA_INT);
            while (true) {
                int rc = (int) n.getEventInfo.invokeExact(event, EVENT_COMMAND_EXECUTION_STATUS, 4L, status,
                        MemorySegment.NULL);
                ClNative.check("clGetEventInfo(" + what + ")", rc);
                int s = status.get(ValueLayout.JAVA_INT, 0);
                if (s == 0) {
                    return this;
                }
                if (s < 0) {
                    throw new OpenClException(what, s, "the command failed on the device");
                }
                long now = System.nanoTime();
                if (now > deadline) {
                    throw new OpenClException(what + " did not complete within " + timeoutNanos / 1_000_000
                            + " ms (status " + s + "); the device may be hung or the kernel may not terminate");
                }
                if (now < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(50_000);
                }
            }
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("waiting for " + what + " failed: " + t);
        }
    }

    /** Device execution time from the profiling counters (the queue profiles every command). */
    public long deviceNanos() {
        ClNative n = context.native_();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_LONG);
            ClNative.check("clGetEventProfilingInfo(" + what + ")", (int) n.getEventProfilingInfo.invokeExact(event,
                    PROFILING_COMMAND_START, 8L, v, MemorySegment.NULL));
            long start = v.get(ValueLayout.JAVA_LONG, 0);
            ClNative.check("clGetEventProfilingInfo(" + what + ")", (int) n.getEventProfilingInfo.invokeExact(event,
                    PROFILING_COMMAND_END, 8L, v, MemorySegment.NULL));
            return v.get(ValueLayout.JAVA_LONG, 0) - start;
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clGetEventProfilingInfo failed: " + t);
        }
    }

    @Override
    public void close() {
        if (!released) {
            released = true;
            context.release("clReleaseEvent", context.native_().releaseEvent, event);
        }
    }
}
