package dev.gale.core.device;

import dev.gale.core.GaleException;
import dev.gale.core.cpu.CpuDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/** Every device of every backend on the class path. */
public final class Devices {
    private static volatile List<DeviceProvider> providers;

    private Devices() {
    }

    public static List<DeviceProvider> providers() {
        List<DeviceProvider> p = providers;
        if (p == null) {
            List<DeviceProvider> found = new ArrayList<>();
            ServiceLoader.load(DeviceProvider.class, Devices.class.getClassLoader()).forEach(found::add);
            providers = p = List.copyOf(found);
        }
        return p;
    }

    public static List<Device> all() {
        List<Device> out = new ArrayList<>();
        for (DeviceProvider p : providers()) {
            out.addAll(p.devices());
        }
        return out;
    }

    public static CpuDevice cpu() {
        return CpuDevice.instance();
    }

    /** The device with this id ({@code cpu}, {@code opencl:0}, …), or an error listing the ones present. */
    public static Device byId(String id) {
        List<Device> all = all();
        for (Device d : all) {
            if (d.id().equals(id)) {
                return d;
            }
        }
        StringBuilder why = new StringBuilder();
        for (DeviceProvider p : providers()) {
            if (p.unavailableReason() != null) {
                why.append("; ").append(p.backend()).append(": ").append(p.unavailableReason());
            }
        }
        throw new GaleException("no device '" + id + "'; present: "
                + all.stream().map(Device::id).toList() + why);
    }
}
