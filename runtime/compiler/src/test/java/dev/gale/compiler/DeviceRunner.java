package dev.gale.compiler;

import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.device.Device;
import dev.gale.opencl.OpenClDevice;
import dev.gale.opencl.OpenClDeviceProvider;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/**
 * The OpenCL device the differential tests launch on (through {@code KernelLauncher}). Skips when there is none,
 * unless GALE_REQUIRE_OPENCL=1.
 */
final class DeviceRunner {
    private DeviceRunner() {
    }

    static OpenClDevice device() {
        OpenClDeviceProvider p = new OpenClDeviceProvider();
        List<Device> devices = p.devices();
        if (devices.isEmpty()) {
            String why = "no OpenCL device: " + p.unavailableReason();
            if ("1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
                fail(why + " (GALE_REQUIRE_OPENCL=1 makes this a failure)");
            }
            Assumptions.abort(why);
        }
        return (OpenClDevice) devices.getFirst();
    }
}
