package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.device.SignalGuard;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.activation.ActivationKernels;
import dev.gale.opencl.KernelLauncher;
import dev.gale.opencl.OpenClDevice;
import dev.gale.opencl.OpenClDeviceProvider;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The JVM's SIGSEGV handler is still the one the kernel calls after OpenCL drivers have loaded and built a kernel.
 * Under PoCL, LLVM replaces it while the platform loads; without {@link SignalGuard} a safepoint that faults two
 * threads at once could kill the JVM with a bare SIGSEGV (seen in benchmarks and in {@code gale generate}).
 */
class SignalHandlersTest {
    @Test
    void theJvmStillOwnsSigsegvAfterTheDriversLoadAndBuild() {
        Assumptions.assumeTrue(SignalGuard.supported(), "rt_sigaction is read only on Linux x86-64");
        OpenClDeviceProvider p = new OpenClDeviceProvider();
        List<Device> devices = p.devices();
        if (devices.isEmpty()) {
            if ("1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
                fail("no OpenCL device: " + p.unavailableReason());
            }
            Assumptions.abort("no OpenCL device: " + p.unavailableReason());
        }
        for (Device d : devices) {
            try (KernelLauncher l = KernelLauncher.open((OpenClDevice) d);
                 Buffer a = Buffers.f32("a", 1, 2); Buffer b = Buffers.f32("b", 3, 4);
                 Buffer out = Buffers.allocate("out", DType.F32, 2)) {
                l.launch(ActivationKernels.class, "residualAdd", Map.of(), Grid.of1(2, 2), a, b, out, 2);
                assertEquals(6f, out.getFloat(1));
                // A source no cache holds: the driver compiles it now, which is when LLVM registers handlers again.
                l.context().program("__kernel void fresh(__global float* x) { x[get_global_id(0)] += "
                        + System.nanoTime() % 1000 + ".0f; }", "");
            }
        }
        Optional<String> lib = SignalGuard.segvHandlerLibrary();
        assertTrue(lib.isPresent(), "the SIGSEGV handler's library cannot be told");
        assertTrue(lib.get().endsWith("libjvm.so"), "SIGSEGV is handled by " + lib.get() + ", not the JVM; the drivers "
                + "replaced " + OpenClDeviceProvider.restoredSignals() + " while loading");
    }
}
