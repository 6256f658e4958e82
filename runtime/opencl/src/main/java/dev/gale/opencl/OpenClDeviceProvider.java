package dev.gale.opencl;

import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import dev.gale.core.device.SignalGuard;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** The OpenCL backend: every device of every platform the ICD loader finds, numbered opencl:0, opencl:1, … */
public final class OpenClDeviceProvider implements DeviceProvider {
    private static volatile List<Device> devices;
    private static volatile String unavailable;
    private static volatile List<String> restored = List.of();

    @Override
    public String backend() {
        return "opencl";
    }

    @Override
    public List<Device> devices() {
        discover();
        return devices;
    }

    @Override
    public String unavailableReason() {
        discover();
        return unavailable;
    }

    private static synchronized void discover() {
        if (devices != null) {
            return;
        }
        List<Device> found = new ArrayList<>();
        // PoCL's LLVM replaces the JVM's SIGSEGV handler while the platforms load (see SignalGuard).
        restored = SignalGuard.around(() -> {
            try {
                for (MemorySegment p : DeviceInfo.platforms()) {
                    for (MemorySegment d : DeviceInfo.devices(p)) {
                        found.add(new OpenClDevice(found.size(), p, d));
                    }
                }
                if (found.isEmpty()) {
                    unavailable = "the OpenCL loader found no platform or device; " + ClNative.INSTALL_HINT;
                }
            } catch (OpenClException e) {
                found.clear();
                unavailable = e.getMessage();
            }
        });
        devices = List.copyOf(found);
    }

    /**
     * The signals whose JVM handlers the OpenCL drivers replaced while loading and Gale put back (for example
     * SIGSEGV and SIGBUS under PoCL, whose LLVM installs its own); empty when the drivers left them alone.
     */
    public static List<String> restoredSignals() {
        discover();
        return restored;
    }
}
