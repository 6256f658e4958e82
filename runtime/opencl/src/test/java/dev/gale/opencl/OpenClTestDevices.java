package dev.gale.opencl;

import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.device.Device;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/** The OpenCL devices to test on: skipped with the reason when none, unless GALE_REQUIRE_OPENCL=1 demands one. */
final class OpenClTestDevices {
    private OpenClTestDevices() {
    }

    static OpenClDevice first() {
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
