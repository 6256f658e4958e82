package dev.gale.core.cpu;

import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import java.util.List;

/** The CPU backend: always present. */
public final class CpuDeviceProvider implements DeviceProvider {
    @Override
    public String backend() {
        return "cpu";
    }

    @Override
    public List<Device> devices() {
        return List.of(CpuDevice.instance());
    }
}
