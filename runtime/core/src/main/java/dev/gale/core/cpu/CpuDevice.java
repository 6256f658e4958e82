package dev.gale.core.cpu;

import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import jdk.incubator.vector.FloatVector;

/** The host CPU: Vector API ops on the shared {@link WorkerPool}. */
public final class CpuDevice implements Device {
    private static final CpuDevice INSTANCE = new CpuDevice();

    private final String name;
    private final Capabilities capabilities;

    private CpuDevice() {
        this.name = readCpuModel();
        long[] caches = readCaches();
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("species", FloatVector.SPECIES_PREFERRED.toString());
        extra.put("threads", Integer.toString(WorkerPool.shared().threads()));
        extra.put("jvm", System.getProperty("java.vm.name") + " " + Runtime.version());
        String flags = readCpuFlags();
        if (!flags.isEmpty()) {
            extra.put("isa", flags);
        }
        this.capabilities = new Capabilities(DeviceType.CPU, Runtime.getRuntime().availableProcessors(),
                FloatVector.SPECIES_PREFERRED.vectorBitSize(), physicalMemory(), caches[0], 1,
                true, true, caches, extra);
    }

    public static CpuDevice instance() {
        return INSTANCE;
    }

    public WorkerPool pool() {
        return WorkerPool.shared();
    }

    @Override
    public String id() {
        return "cpu";
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return "cpu";
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public String toString() {
        return "cpu (" + name + ")";
    }

    private static long physicalMemory() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return Runtime.getRuntime().maxMemory();
    }

    private static String readCpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux: fall through to the generic name.
        }
        return System.getProperty("os.arch");
    }

    /** The SIMD flags that decide which kernels are fast, from /proc/cpuinfo where present. */
    private static String readCpuFlags() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) {
                    StringBuilder b = new StringBuilder();
                    for (String f : line.substring(line.indexOf(':') + 1).trim().split("\\s+")) {
                        if (f.equals("avx2") || f.equals("fma") || f.equals("f16c") || f.equals("avx512f")
                                || f.equals("avx512_vnni") || f.equals("avx512_bf16") || f.equals("avx512bw")) {
                            b.append(b.isEmpty() ? "" : " ").append(f);
                        }
                    }
                    return b.toString();
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux.
        }
        return "";
    }

    /** L1d, L2, L3 sizes of cpu0 in bytes from sysfs; 0 where unknown. */
    private static long[] readCaches() {
        long[] out = new long[3];
        Path base = Path.of("/sys/devices/system/cpu/cpu0/cache");
        for (int i = 0; i < 8; i++) {
            Path idx = base.resolve("index" + i);
            try {
                int level = Integer.parseInt(Files.readString(idx.resolve("level")).trim());
                String type = Files.readString(idx.resolve("type")).trim();
                String size = Files.readString(idx.resolve("size")).trim();
                if (level < 1 || level > 3 || type.equals("Instruction")) {
                    continue;
                }
                long bytes = Long.parseLong(size.replaceAll("[^0-9]", ""));
                if (size.endsWith("K")) {
                    bytes <<= 10;
                } else if (size.endsWith("M")) {
                    bytes <<= 20;
                }
                out[level - 1] = bytes;
            } catch (IOException | RuntimeException e) {
                // Missing index or odd format: leave 0.
            }
        }
        return out;
    }
}
