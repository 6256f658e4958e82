package dev.gale.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A built program. {@link #origin()} says whether it came from the memory cache, the disk cache or a fresh build. */
public final class ClProgram {
    /** Where a program came from, for build-time reports. */
    public enum Origin { BUILT_FROM_SOURCE, DISK_CACHE, MEMORY_CACHE }

    private final ClContext context;
    private final MemorySegment program;
    private final String key;
    private final Origin origin;
    private final long buildNanos;

    ClProgram(ClContext context, MemorySegment program, String key, Origin origin, long buildNanos) {
        this.context = context;
        this.program = program;
        this.key = key;
        this.origin = origin;
        this.buildNanos = buildNanos;
    }

    ClProgram asMemoryHit() {
        return new ClProgram(context, program, key, Origin.MEMORY_CACHE, 0);
    }

    public Origin origin() {
        return origin;
    }

    /** Wall time of the build (or binary load) that produced this program; 0 for memory-cache hits. */
    public long buildNanos() {
        return buildNanos;
    }

    /** The cache key: a hash of source, options, device and driver. */
    public String key() {
        return key;
    }

    /** A new kernel object; each concurrent launcher needs its own. */
    public ClKernel kernel(String name) {
        ClNative n = context.native_();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment k = (MemorySegment) n.createKernel.invokeExact(program, a.allocateFrom(name), err);
            ClNative.check("clCreateKernel(" + name + ")", err.get(ValueLayout.JAVA_INT, 0));
            return new ClKernel(context, k, name);
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clCreateKernel failed: " + t);
        }
    }

    MemorySegment handle() {
        return program;
    }
}
