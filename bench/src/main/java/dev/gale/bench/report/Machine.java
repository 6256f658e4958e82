package dev.gale.bench.report;

import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Capabilities;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The machine a report ran on.
 *
 * @param cpu CPU model
 * @param cores logical processors the JVM sees
 * @param poolThreads threads of {@code WorkerPool.shared()}, the all-threads count
 * @param jdk JVM name and version
 * @param species the Vector API's preferred float species
 * @param isa SIMD flags that matter to the kernels
 * @param cacheBytes L1d, L2, L3 (0 where unknown)
 */
public record Machine(String cpu, int cores, int poolThreads, String jdk, String species, String isa,
        long[] cacheBytes) {
    public Machine {
        cacheBytes = cacheBytes.clone();
    }

    @Override
    public long[] cacheBytes() {
        return cacheBytes.clone();
    }

    /** This machine, as {@link CpuDevice} sees it. */
    public static Machine current() {
        CpuDevice cpu = CpuDevice.instance();
        Capabilities caps = cpu.capabilities();
        Map<String, String> extra = caps.extra();
        return new Machine(cpu.name(), caps.computeUnits(), cpu.pool().threads(),
                extra.getOrDefault("jvm", System.getProperty("java.vm.name") + " " + Runtime.version()),
                extra.getOrDefault("species", "?"), extra.getOrDefault("isa", ""), caps.cacheBytes());
    }

    /** One line per fact, for the console and Markdown. */
    public String describe() {
        return "CPU: " + cpu + "\n"
                + "cores: " + cores + ", all-threads probes and cases use " + poolThreads + " thread(s)\n"
                + "JDK: " + jdk + "\n"
                + "vector species: " + species + (isa.isEmpty() ? "" : " (" + isa + ")") + "\n"
                + "caches: L1d " + kib(cacheBytes[0]) + ", L2 " + kib(cacheBytes[1]) + ", L3 " + kib(cacheBytes[2]);
    }

    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cpu", cpu);
        m.put("cores", cores);
        m.put("pool_threads", poolThreads);
        m.put("jdk", jdk);
        m.put("species", species);
        m.put("isa", isa);
        m.put("l1d_bytes", cacheBytes[0]);
        m.put("l2_bytes", cacheBytes[1]);
        m.put("l3_bytes", cacheBytes[2]);
        return m;
    }

    private static String kib(long bytes) {
        if (bytes <= 0) {
            return "?";
        }
        return bytes >= (1 << 20) ? (bytes >> 20) + " MiB" : (bytes >> 10) + " KiB";
    }
}
