package dev.gale.opencl;

import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** The OpenCL backend: every device of every platform the ICD loader finds, numbered opencl:0, opencl:1, … */
public final class OpenClDeviceProvider implements DeviceProvider {
    private static volatile List<Device> devices;
    private static volatile String unavailable;

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
            unavailable = e.getMessage();
        }
        devices = List.copyOf(found);
    }
}
