package dev.gale.cuda;

import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.kernel.KernelRunner;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * One CUDA device, with its capabilities read once. Kernels run in the device's primary context; each calling
 * thread gets its own {@link CudaLauncher} (device copies of its buffers), and all of them share the device's
 * compiled kernels ({@link CudaModules}).
 */
public final class CudaDevice implements Device {
    private final String id;
    private final int ordinal;
    private final int handle;
    private final String name;
    private final int ccMajor;
    private final int ccMinor;
    private final int driverVersion;
    private final Capabilities capabilities;
    private final CudaModules modules;
    private volatile MemorySegment context;

    CudaDevice(CuDriver drv, int ordinal) {
        this.ordinal = ordinal;
        this.id = "cuda:" + ordinal;
        this.handle = drv.device(ordinal);
        this.name = drv.deviceName(handle);
        this.ccMajor = drv.attribute(handle, CuDriver.ATTR_COMPUTE_CAPABILITY_MAJOR);
        this.ccMinor = drv.attribute(handle, CuDriver.ATTR_COMPUTE_CAPABILITY_MINOR);
        this.driverVersion = drv.driverVersion();
        int sms = drv.attribute(handle, CuDriver.ATTR_MULTIPROCESSOR_COUNT);
        int warp = drv.attribute(handle, CuDriver.ATTR_WARP_SIZE);
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("compute capability", ccMajor + "." + ccMinor);
        extra.put("driver", (driverVersion / 1000) + "." + (driverVersion % 1000 / 10) + " (" + drv.libraryPath + ")");
        extra.put("warp", Integer.toString(warp));
        extra.put("threads per SM", Integer.toString(drv.attribute(handle,
                CuDriver.ATTR_MAX_THREADS_PER_MULTIPROCESSOR)));
        extra.put("shared memory per SM", (drv.attribute(handle,
                CuDriver.ATTR_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR) >> 10) + " KiB");
        int memKHz = drv.attribute(handle, CuDriver.ATTR_MEMORY_CLOCK_RATE);
        int busBits = drv.attribute(handle, CuDriver.ATTR_GLOBAL_MEMORY_BUS_WIDTH);
        if (memKHz > 0 && busBits > 0) {
            // Double data rate: two transfers per clock over the whole bus.
            extra.put("memory bandwidth (spec)", String.format(Locale.ROOT, "%.0f GB/s",
                    2.0 * memKHz * 1e3 * busBits / 8 / 1e9));
        }
        int clockKHz = drv.attribute(handle, CuDriver.ATTR_CLOCK_RATE);
        if (clockKHz > 0) {
            extra.put("clock", clockKHz / 1000 + " MHz");
        }
        this.capabilities = new Capabilities(
                DeviceType.GPU, sms, warp * 32, drv.totalMemory(handle),
                drv.attribute(handle, CuDriver.ATTR_MAX_SHARED_MEMORY_PER_BLOCK),
                // Launches copy buffers to and from device memory even on an integrated GPU, so: not unified.
                drv.attribute(handle, CuDriver.ATTR_MAX_THREADS_PER_BLOCK), true, false,
                new long[] {0, drv.attribute(handle, CuDriver.ATTR_L2_CACHE_SIZE), 0}, extra);
        this.modules = new CudaModules(this);
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
        return "cuda";
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    /** {@code sm_XY}'s X and Y. */
    public int computeCapabilityMajor() {
        return ccMajor;
    }

    public int computeCapabilityMinor() {
        return ccMinor;
    }

    /** The driver's CUDA version as {@code cuDriverGetVersion} gives it, for example 13000. */
    public int driverVersion() {
        return driverVersion;
    }

    int ordinal() {
        return ordinal;
    }

    CudaModules modules() {
        return modules;
    }

    /** The primary context, retained on first use and kept for the process's life. */
    MemorySegment context() {
        MemorySegment c = context;
        if (c == null) {
            synchronized (this) {
                if (context == null) {
                    context = CuDriver.get().primaryContext(handle);
                }
                c = context;
            }
        }
        return c;
    }

    private final ThreadLocal<CudaLauncher> launchers = ThreadLocal.withInitial(() -> new CudaLauncher(this));
    private final KernelRunner runner = (owner, method, grid, args) ->
            launchers.get().launchInline(owner, method, grid, args);

    /**
     * Launches kernels on this device. Each calling thread gets its own launch session, created on first use and
     * kept for the thread's life, as on OpenCL.
     */
    @Override
    public KernelRunner kernelRunner() {
        return runner;
    }

    @Override
    public String toString() {
        return id + " (" + name + ")";
    }
}
