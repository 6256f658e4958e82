package dev.gale.core.device;

/** Which implementation ran a task. Every run report names one per task. */
public enum ImplPath {
    /** Plain scalar Java, the numerics reference. */
    REFERENCE,
    /** Hand-vectorised Java on the Vector API. */
    VECTOR_API,
    /** A @Kernel method run over its grid by the JVM grid emulator. */
    EMULATOR,
    /** A compiled kernel on an OpenCL or CUDA device. */
    DEVICE_KERNEL,
    /** Caller-supplied Java run on the host. */
    HOST,
    /** A data movement between host and device memory (or none, on shared memory). */
    TRANSFER
}
