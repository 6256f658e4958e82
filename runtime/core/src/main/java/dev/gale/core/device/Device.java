package dev.gale.core.device;

/** A place where tasks run: the CPU (Vector API), an OpenCL device, a CUDA device. */
public interface Device {
    /** Stable id used on the command line, for example {@code cpu} or {@code opencl:0}. */
    String id();

    /** Human-readable name, for example the CPU model or the OpenCL device name. */
    String name();

    /** The backend that drives it: {@code cpu}, {@code opencl}, {@code cuda}. */
    String backend();

    Capabilities capabilities();

    /**
     * What launches {@code @Kernel} methods on this device as compiled kernels, or null when this backend runs none
     * (the CPU runs kernels only under the emulator, which ops ask for explicitly).
     */
    default dev.gale.core.kernel.KernelRunner kernelRunner() {
        return null;
    }

    /**
     * Where graph tensors declared resident ({@link dev.gale.core.graph.TaskGraph#resident}) live between launches
     * and runs on a device with its own memory; null where kernels read host memory (the CPU, PoCL) or the backend
     * keeps nothing there.
     */
    default ResidentMemory residentMemory() {
        return null;
    }
}
