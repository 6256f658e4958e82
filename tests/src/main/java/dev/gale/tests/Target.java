package dev.gale.tests;

import dev.gale.core.device.Device;
import dev.gale.core.emulator.Emulator;
import dev.gale.core.kernel.Grid;
import dev.gale.opencl.KernelLauncher;
import dev.gale.opencl.OpenClDevice;

/**
 * One column of the matrix: a way to run an op. The Vector API path calls the family's vectorised entry point; the
 * emulator, OpenCL and CUDA devices run the family's {@code @Kernel} method with the same argument list (every parameter
 * but the context, {@code @Const} values in their places).
 */
public abstract sealed class Target implements AutoCloseable {
    private final String name;

    private Target(String name) {
        this.name = name;
    }

    /** Column label: {@code vector-api}, {@code emulator}, {@code opencl:0}, … */
    public String name() {
        return name;
    }

    /** True for the CPU Vector API path, which has no kernels to launch. */
    public boolean vectorApi() {
        return false;
    }

    /** Runs kernel {@code method} of {@code owner} over {@code grid}. */
    public void kernel(Class<?> owner, String method, Grid grid, Object... args) {
        throw new IllegalStateException(name + " runs no device kernels");
    }

    @Override
    public void close() {
    }

    public static Target vectorApi(String name) {
        return new VectorApi(name);
    }

    public static Target emulator() {
        return new Emulated();
    }

    /** A launch session on {@code device}; closing the target closes it. */
    public static Target openCl(OpenClDevice device) {
        return new OpenCl(device);
    }

    /** Kernels through {@code device.kernelRunner()}: how a CUDA device takes part (its sessions are per thread). */
    public static Target device(Device device) {
        if (device.kernelRunner() == null) {
            throw new IllegalArgumentException(device.id() + " launches no kernels");
        }
        return new Runner(device);
    }

    static final class VectorApi extends Target {
        VectorApi(String name) {
            super(name);
        }

        @Override
        public boolean vectorApi() {
            return true;
        }
    }

    static final class Emulated extends Target {
        private final Emulator emulator = Emulator.parallel(2);

        Emulated() {
            super("emulator");
        }

        @Override
        public void kernel(Class<?> owner, String method, Grid grid, Object... args) {
            emulator.run(owner, method, grid, args);
        }
    }

    static final class Runner extends Target {
        private final Device device;

        Runner(Device device) {
            super(device.id());
            this.device = device;
        }

        @Override
        public void kernel(Class<?> owner, String method, Grid grid, Object... args) {
            device.kernelRunner().run(owner, method, grid, args);
        }
    }

    static final class OpenCl extends Target {
        private final KernelLauncher launcher;

        OpenCl(OpenClDevice device) {
            super(device.id());
            this.launcher = KernelLauncher.open(device);
        }

        @Override
        public void kernel(Class<?> owner, String method, Grid grid, Object... args) {
            launcher.launchInline(owner, method, grid, args);
        }

        @Override
        public void close() {
            launcher.close();
        }
    }
}
