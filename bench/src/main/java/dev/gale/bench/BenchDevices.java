package dev.gale.bench;

import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import dev.gale.core.device.Devices;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The devices the device cases run on: every device of every backend on the class path ({@link Devices#all()}) that
 * has a {@link Device#kernelRunner()} — OpenCL devices, CUDA devices, whatever backend comes next — and how reports
 * name them.
 */
public final class BenchDevices {
    private static List<Device> devices;
    private static boolean told;

    private BenchDevices() {
    }

    /** The devices with a kernel runner, in {@link Devices#all()} order; none (saying why, once) when there are none. */
    public static synchronized List<Device> withRunner() {
        if (devices == null) {
            List<Device> found = new ArrayList<>();
            StringBuilder why = new StringBuilder();
            try {
                for (Device d : Devices.all()) {
                    if (d.kernelRunner() != null) {
                        found.add(d);
                    }
                }
                for (DeviceProvider p : Devices.providers()) {
                    if (p.unavailableReason() != null) {
                        why.append(why.isEmpty() ? "" : "; ").append(p.backend()).append(": ")
                                .append(p.unavailableReason());
                    }
                }
            } catch (RuntimeException | LinkageError e) {
                why.append(e.getClass().getSimpleName()).append(": ").append(e.getMessage());
            }
            devices = List.copyOf(found);
            if (devices.isEmpty() && !told) {
                told = true;
                System.out.println("device cases: none: no device with a kernel runner"
                        + (why.isEmpty() ? "" : " (" + why + ")"));
            }
        }
        return devices;
    }

    /**
     * The device as the impl column and table titles name it: {@code pocl opencl:0} for PoCL (its device names are
     * the CPU model, which says nothing about the backend), else the id and the device name, e.g.
     * {@code cuda:0 NVIDIA H200}. The id is always in it, so {@code --filter cuda:0} or {@code --filter cuda} selects a
     * device's rows.
     */
    public static String label(Device d) {
        String name = d.name().toLowerCase(Locale.ROOT);
        boolean pocl = d.backend().equals("opencl")
                && (name.startsWith("pthread") || name.contains("pocl") || name.startsWith("cpu-"));
        return pocl ? "pocl " + d.id() : d.id() + " " + d.name();
    }
}
