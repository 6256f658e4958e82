package dev.gale.cuda;

import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import dev.gale.core.device.DriverDiscovery;
import java.util.ArrayList;
import java.util.List;

/**
 * The CUDA backend: every device the NVIDIA driver reports, numbered cuda:0, cuda:1, … Without the driver library
 * (any machine with no NVIDIA GPU) it has no devices and says why. NVRTC is loaded here too, since no kernel could
 * run without it, so its absence is reported before the first launch.
 */
public final class CudaDeviceProvider implements DeviceProvider {
    private static final DriverDiscovery DISCOVERY = new DriverDiscovery(CudaDeviceProvider::find,
            "the CUDA driver reports no device");

    @Override
    public String backend() {
        return "cuda";
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
        CuDriver drv = CuDriver.get();
        int n = drv.deviceCount();
        List<Device> found = new ArrayList<>();
        if (n > 0) {
            Nvrtc.get();
        }
        for (int i = 0; i < n; i++) {
            found.add(new CudaDevice(drv, i));
        }
        return found;
    }

    /** The signals whose JVM handlers the CUDA libraries replaced while loading and Gale put back. */
    public static List<String> restoredSignals() {
        return DISCOVERY.get().restoredSignals();
    }

    /** The NVRTC library in use and its version, for reports; throws when NVRTC is missing. */
    public static String compilerDescription() {
        Nvrtc n = Nvrtc.get();
        return "NVRTC " + n.version() + " (" + n.libraryPath + ")";
    }
}
