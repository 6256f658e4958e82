package dev.gale.opencl;

import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import dev.gale.core.device.DriverDiscovery;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** The OpenCL backend: every device of every platform the ICD loader finds, numbered opencl:0, opencl:1, … */
public final class OpenClDeviceProvider implements DeviceProvider {
    // PoCL's LLVM replaces the JVM's SIGSEGV handler while the platforms load; DriverDiscovery puts it back.
    private static final DriverDiscovery DISCOVERY = new DriverDiscovery(OpenClDeviceProvider::find,
            "the OpenCL loader found no platform or device; " + ClNative.INSTALL_HINT);

    @Override
    public String backend() {
        return "opencl";
    }

    @Override
    public List<Device> devices() {
        return DISCOVERY.get().devices();
    }

    @Override
    public String unavailableReason() {
        return DISCOVERY.get().unavailable();
    }

    private static List<Device> find() {
        List<Device> found = new ArrayList<>();
        for (MemorySegment p : DeviceInfo.platforms()) {
            for (MemorySegment d : DeviceInfo.devices(p)) {
                found.add(new OpenClDevice(found.size(), p, d));
            }
        }
        return found;
    }

    /**
     * The signals whose JVM handlers the OpenCL drivers replaced while loading and Gale put back (for example
     * SIGSEGV and SIGBUS under PoCL, whose LLVM installs its own); empty when the drivers left them alone.
     */
    public static List<String> restoredSignals() {
        return DISCOVERY.get().restoredSignals();
    }
}
