package dev.gale.opencl;

import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.kernel.KernelRunner;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;

/** One OpenCL device, with its capabilities read once. */
public final class OpenClDevice implements Device {
    private final String id;
    private final MemorySegment platform;
    private final MemorySegment handle;
    private final String name;
    private final String driverVersion;
    private final String openClC;
    private final long maxAlloc;
    private final long baseAlignBytes;
    private final boolean correctlyRoundedDivide;
    private final Capabilities capabilities;

    OpenClDevice(int index, MemorySegment platform, MemorySegment handle) {
        this.id = "opencl:" + index;
        this.platform = platform;
        this.handle = handle;
        this.name = DeviceInfo.deviceString(handle, DeviceInfo.DEVICE_NAME);
        this.driverVersion = DeviceInfo.deviceString(handle, DeviceInfo.DRIVER_VERSION);
        this.openClC = DeviceInfo.deviceString(handle, DeviceInfo.DEVICE_OPENCL_C_VERSION);
        this.maxAlloc = DeviceInfo.deviceLong(handle, DeviceInfo.DEVICE_MAX_MEM_ALLOC_SIZE);
        this.baseAlignBytes = DeviceInfo.deviceInt(handle, DeviceInfo.DEVICE_MEM_BASE_ADDR_ALIGN) / 8L;
        long type = DeviceInfo.deviceLong(handle, DeviceInfo.DEVICE_TYPE);
        this.correctlyRoundedDivide = (DeviceInfo.deviceLong(handle, DeviceInfo.DEVICE_SINGLE_FP_CONFIG)
                & DeviceInfo.FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
        String ext = DeviceInfo.deviceString(handle, DeviceInfo.DEVICE_EXTENSIONS);
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("platform", DeviceInfo.platformString(platform, DeviceInfo.PLATFORM_NAME) + " ("
                + DeviceInfo.platformString(platform, DeviceInfo.PLATFORM_VERSION) + ")");
        extra.put("vendor", DeviceInfo.deviceString(handle, DeviceInfo.DEVICE_VENDOR));
        extra.put("version", DeviceInfo.deviceString(handle, DeviceInfo.DEVICE_VERSION));
        extra.put("opencl c", openClC);
        extra.put("driver", driverVersion);
        extra.put("max allocation", (maxAlloc >> 20) + " MiB");
        extra.put("clock", DeviceInfo.deviceInt(handle, DeviceInfo.DEVICE_MAX_CLOCK_FREQUENCY) + " MHz");
        extra.put("subgroups", ext.contains("cl_khr_subgroups") || ext.contains("cl_intel_subgroups") ? "yes" : "no");
        this.capabilities = new Capabilities(
                (type & 2) != 0 ? DeviceType.CPU : (type & 4) != 0 ? DeviceType.GPU : DeviceType.ACCELERATOR,
                DeviceInfo.deviceInt(handle, DeviceInfo.DEVICE_MAX_COMPUTE_UNITS),
                DeviceInfo.deviceInt(handle, DeviceInfo.DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT) * 32,
                DeviceInfo.deviceLong(handle, DeviceInfo.DEVICE_GLOBAL_MEM_SIZE),
                DeviceInfo.deviceLong(handle, DeviceInfo.DEVICE_LOCAL_MEM_SIZE),
                DeviceInfo.deviceLong(handle, DeviceInfo.DEVICE_MAX_WORK_GROUP_SIZE),
                ext.contains("cl_khr_fp16"),
                DeviceInfo.deviceInt(handle, DeviceInfo.DEVICE_HOST_UNIFIED_MEMORY) != 0,
                new long[3], extra);
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return "opencl";
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    public String driverVersion() {
        return driverVersion;
    }

    public String openClCVersion() {
        return openClC;
    }

    public long maxAllocationBytes() {
        return maxAlloc;
    }

    /**
     * Build options that give float division and sqrt Java's correctly rounded results where the device can:
     * OpenCL C otherwise allows 2.5 ulp for {@code /} (NVIDIA's OpenCL uses that freedom; PoCL rounds correctly
     * either way), and the cross-device suite holds kernels to Java's arithmetic.
     */
    public String javaFloatOptions() {
        return correctlyRoundedDivide ? "-cl-fp32-correctly-rounded-divide-sqrt" : "";
    }

    /** Alignment the device wants for CL_MEM_USE_HOST_PTR memory, in bytes. */
    public long baseAlignmentBytes() {
        return baseAlignBytes;
    }

    /**
     * Launches kernels on this device. OpenCL kernel objects hold their arguments, so each calling thread gets its
     * own launch session (context, program cache, mirrors), created on first use and kept for the thread's life.
     */
    @Override
    public KernelRunner kernelRunner() {
        return runner;
    }

    private final ThreadLocal<KernelLauncher> launchers = ThreadLocal.withInitial(() -> KernelLauncher.open(this));
    private final KernelRunner runner = (owner, method, grid, args) ->
            launchers.get().launchInline(owner, method, grid, args);

    MemorySegment handle() {
        return handle;
    }

    MemorySegment platform() {
        return platform;
    }

    @Override
    public String toString() {
        return id + " (" + name + ")";
    }
}
