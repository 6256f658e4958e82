package dev.gale.bench.probe;

import java.util.function.LongSupplier;

/**
 * The time of launches through a {@link dev.gale.core.kernel.KernelRunner}: the device nanoseconds the runner
 * returns (OpenCL profiling events, CUDA events), or, where the backend measures none and returns 0 (the emulator),
 * the host wall time of the call, which then includes launch overhead and any transfers.
 */
public final class DeviceTime {
    private DeviceTime() {
    }

    /** Nanoseconds of {@code launches}, which returns the summed device nanos of the launches it made. */
    public static long nanos(LongSupplier launches) {
        long t0 = System.nanoTime();
        long device = launches.getAsLong();
        return device > 0 ? device : Math.max(1, System.nanoTime() - t0);
    }
}
