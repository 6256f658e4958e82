package dev.gale.bench;

import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.emulator.Emulator;
import dev.gale.core.kernel.KernelRunner;
import java.util.Map;

/**
 * A device of no real backend whose kernel runner is the grid emulator, which returns 0 nanoseconds: the generic
 * device path (launch through {@link Device#kernelRunner()}, host timing where a backend measures nothing) without
 * OpenCL. Small groups, so emulated launches stay fast.
 */
public final class EmulatorDevice implements Device {
    private final String id;
    private final Capabilities capabilities;
    private final KernelRunner runner;

    /** @param type CPU with unified memory looks like PoCL to the bench; GPU like a discrete card */
    public EmulatorDevice(String id, DeviceType type, boolean unifiedMemory) {
        this(id, type, unifiedMemory, Emulator.parallel(4));
    }

    public EmulatorDevice(String id, DeviceType type, boolean unifiedMemory, KernelRunner runner) {
        this.id = id;
        this.capabilities = new Capabilities(type, 1, 256, 1L << 30, 1 << 15, 64, false, unifiedMemory, new long[3],
                Map.of());
        this.runner = runner;
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public String name() {
        return "emulated " + capabilities.type();
    }

    @Override
    public String backend() {
        return "emulator";
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public KernelRunner kernelRunner() {
        return runner;
    }
}
