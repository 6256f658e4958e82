package dev.gale.cuda;

import dev.gale.core.kernel.LaunchArguments;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The compiled kernels of one device: one module per kernel specialisation (its {@code @Const} values), compiled by
 * NVRTC on first use and shared by every thread, since a CUDA module belongs to the context, not to a thread.
 * Compile time is kept so reports can show it apart from run time.
 */
final class CudaModules {
    /** A loaded kernel: its function handle, the largest block its registers allow, and how long the build took. */
    record Compiled(MemorySegment function, int maxThreadsPerBlock, int registers, long buildNanos) {
    }

    private final CudaDevice device;
    private final Map<String, Compiled> compiled = new ConcurrentHashMap<>();

    CudaModules(CudaDevice device) {
        this.device = device;
    }

    /** The kernel for {@code la}'s specialisation; the calling thread must have the device's context current. */
    Compiled get(LaunchArguments la) {
        Compiled c = compiled.get(la.key());
        if (c != null) {
            return c;
        }
        synchronized (this) {
            return compiled.computeIfAbsent(la.key(), k -> build(la));
        }
    }

    private Compiled build(LaunchArguments la) {
        long t0 = System.nanoTime();
        String source = la.source().cudaSource(la.constants());
        byte[] cubin = Nvrtc.get().compileCubin(source, la.source().className() + "." + la.source().method() + ".cu",
                Nvrtc.options(device.computeCapabilityMajor(), device.computeCapabilityMinor(),
                        la.source().cudaOptions()));
        CuDriver drv = CuDriver.get();
        MemorySegment module;
        try (Arena a = Arena.ofConfined()) {
            module = drv.loadModule(a.allocateFrom(ValueLayout.JAVA_BYTE, cubin), la.kernelName());
        }
        MemorySegment fn = drv.function(module, la.source().entry());
        return new Compiled(fn, drv.functionAttribute(fn, CuDriver.FUNC_MAX_THREADS_PER_BLOCK),
                drv.functionAttribute(fn, CuDriver.FUNC_NUM_REGS), System.nanoTime() - t0);
    }

    /** Kernels compiled so far (one per kernel and set of constant values). */
    int size() {
        return compiled.size();
    }
}
