package dev.gale.core.kernel;

/**
 * Runs {@code @Kernel} methods on one device: the grid emulator on the CPU, compiled kernels on an OpenCL device.
 * Graph ops use it for their EMULATOR and DEVICE_KERNEL paths, so an op names its kernel once and every backend
 * that has a runner can launch it.
 */
public interface KernelRunner {
    /**
     * Runs kernel {@code method} of {@code owner} over {@code grid}. {@code args} are every parameter but the
     * context, in Java order, with {@code @Const} values in their places; buffer parameters take Gale
     * {@link dev.gale.core.buffer.Buffer}s. Returns the device time in nanoseconds where the backend measures it,
     * else 0.
     */
    long run(Class<?> owner, String method, Grid grid, Object... args);
}
