package dev.gale.core.device;

import java.util.Map;

/**
 * What a device can do, as numbers kernels and planners choose variants from (never vendor names).
 *
 * @param computeUnits     cores on a CPU, compute units or SMs on a device
 * @param vectorBits       preferred SIMD width in bits (CPU: the Vector API's preferred species)
 * @param localMemoryBytes work-group local memory (CPU: L1 data cache per core)
 * @param maxWorkGroupSize largest work group (CPU: 1, since a CPU op is not launched as a grid)
 * @param cacheBytes       L1d, L2 and L3 sizes where known, else 0
 * @param extra            further facts worth printing (driver version, instruction-set flags…)
 */
public record Capabilities(DeviceType type, int computeUnits, int vectorBits, long globalMemoryBytes,
                           long localMemoryBytes, long maxWorkGroupSize, boolean fp16, boolean unifiedMemory,
                           long[] cacheBytes, Map<String, String> extra) {
    public Capabilities {
        cacheBytes = cacheBytes.clone();
        extra = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(extra));
    }

    @Override
    public long[] cacheBytes() {
        return cacheBytes.clone();
    }
}
