package dev.gale.cuda;

import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import dev.gale.core.device.SignalGuard;
import java.util.ArrayList;
import java.util.List;

/**
 * The CUDA backend: every device the NVIDIA driver reports, numbered cuda:0, cuda:1, … Without the driver library
 * (any machine with no NVIDIA GPU) it has no devices and says why. NVRTC is looked for only at the first kernel
 * build, but its absence is reported here too, since no kernel could run without it.
 */
public final class CudaDeviceProvider implements DeviceProvider {
    private static volatile List<Device> devices;
    private static volatile String unavailable;
    private static volatile List<String> restored = List.of();

    @Override
    public String backend() {
        return "cuda";
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
        // As for OpenCL drivers: whatever the driver or NVRTC install, the JVM's signal handlers stay first.
        restored = SignalGuard.around(() -> {
            try {
                CuDriver drv = CuDriver.get();
                int n = drv.deviceCount();
                if (n == 0) {
                    unavailable = "the CUDA driver reports no device";
                } else {
                    Nvrtc.get();
                    for (int i = 0; i < n; i++) {
                        found.add(new CudaDevice(drv, i));
                    }
                }
            } catch (CudaException e) {
                found.clear();
                unavailable = e.getMessage();
            }
        });
        devices = List.copyOf(found);
    }

    /** The signals whose JVM handlers the CUDA libraries replaced while loading and Gale put back. */
    public static List<String> restoredSignals() {
        discover();
        return restored;
    }

    /** The NVRTC library in use and its version, for reports; throws when NVRTC is missing. */
    public static String compilerDescription() {
        Nvrtc n = Nvrtc.get();
        return "NVRTC " + n.version() + " (" + n.libraryPath + ")";
    }
}
