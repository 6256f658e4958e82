package dev.gale.cli;

import dev.gale.core.cpu.VectorApiCheck;
import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import dev.gale.core.device.Devices;
import java.io.PrintStream;
import java.util.Map;

/** {@code gale devices}: every backend, its devices and their capabilities, and why a backend is absent. */
final class DevicesCommand implements Gale.Command {
    @Override
    public String summary() {
        return "list backends, devices and their capabilities";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        for (DeviceProvider p : Devices.providers()) {
            if (p.unavailableReason() != null) {
                out.printf("backend %-7s unavailable: %s%n", p.backend(), p.unavailableReason());
                continue;
            }
            for (Device d : p.devices()) {
                Capabilities c = d.capabilities();
                out.printf("%-10s %s%n", d.id(), d.name());
                out.printf("  %-18s %s%n", "type", c.type());
                out.printf("  %-18s %d%n", "compute units", c.computeUnits());
                out.printf("  %-18s %d bits%n", "vector width", c.vectorBits());
                out.printf("  %-18s %s%n", "memory", mib(c.globalMemoryBytes()));
                out.printf("  %-18s %s%n", "local memory", mib(c.localMemoryBytes()));
                out.printf("  %-18s %d%n", "max work group", c.maxWorkGroupSize());
                out.printf("  %-18s %s%n", "fp16", c.fp16() ? "yes" : "no");
                out.printf("  %-18s %s%n", "unified memory", c.unifiedMemory() ? "yes" : "no");
                long[] caches = c.cacheBytes();
                out.printf("  %-18s L1d %s, L2 %s, L3 %s%n", "caches", mib(caches[0]), mib(caches[1]), mib(caches[2]));
                for (Map.Entry<String, String> e : c.extra().entrySet()) {
                    out.printf("  %-18s %s%n", e.getKey(), e.getValue());
                }
                if (d.backend().equals("cpu")) {
                    out.printf("  %-18s %s%n", "vector api", VectorApiCheck.run());
                }
            }
        }
        return 0;
    }

    private static String mib(long bytes) {
        if (bytes <= 0) {
            return "unknown";
        }
        if (bytes < 1 << 20) {
            return (bytes >> 10) + " KiB";
        }
        return bytes < 1L << 30 ? (bytes >> 20) + " MiB" : String.format("%.1f GiB", bytes / (double) (1L << 30));
    }
}
