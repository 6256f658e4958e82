package dev.gale.cuda;

import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceCopies;
import dev.gale.core.device.DeviceType;
import dev.gale.core.device.ResidentMemory;
import dev.gale.core.kernel.KernelRunner;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

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
    private final ResidentMemory resident;
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
        // -Dgale.cuda.resident=false brings back copies around every launch, to measure what residency saves.
        this.resident = Boolean.parseBoolean(System.getProperty("gale.cuda.resident", "true"))
                ? new ResidentMemory(id, new Copies()) : null;
    }

    /** The driver's allocation and copies, in the primary context whichever thread asks. */
    private final class Copies implements DeviceCopies {
        @Override
        public long allocate(long bytes, String what) {
            return current().alloc(bytes, what);
        }

        @Override
        public void free(long address) {
            drain("freeing device memory");
            current().free(address);
        }

        @Override
        public void toDevice(long address, MemorySegment host, String what) {
            drain("copying " + what + " to " + id);
            current().copyToDevice(address, host, host.byteSize(), what);
        }

        @Override
        public void toHost(MemorySegment host, long address, String what) {
            drain("copying " + what + " from " + id);
            current().copyToHost(host, address, host.byteSize(), what);
        }

        private CuDriver current() {
            CuDriver drv = CuDriver.get();
            drv.setCurrent(context());
            return drv;
        }
    }

    @Override
    public ResidentMemory residentMemory() {
        return resident;
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

    private final long timeoutNanos = TimeUnit.SECONDS.toNanos(Long.getLong("gale.cuda.timeoutSeconds", 120));
    /** Launches queued on the stream so far, and how many of them are known to have finished. */
    private final AtomicLong queued = new AtomicLong();
    private final AtomicLong finished = new AtomicLong();
    private final ThreadLocal<MemorySegment> drainEvents = ThreadLocal.withInitial(() -> {
        CuDriver drv = CuDriver.get();
        drv.setCurrent(context());
        return drv.createEvent();
    });

    /** Counts a launch just queued; returns the count, a ticket {@link #await} marks finished. */
    long queued() {
        return queued.incrementAndGet();
    }

    /**
     * Waits for {@code event} (recorded after launch number {@code ticket} or later) with the deadline: spinning
     * briefly (most kernels are short), then parking. Everything queued up to the ticket has then finished.
     */
    void await(MemorySegment event, String what, long ticket) {
        CuDriver drv = CuDriver.get();
        long t0 = System.nanoTime();
        int spins = 0;
        while (!drv.done(event, what)) {
            if (System.nanoTime() - t0 > timeoutNanos) {
                throw new CudaException(what + " on " + id + " did not finish within "
                        + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos) + " s (-Dgale.cuda.timeoutSeconds)");
            }
            if (++spins > 1000) {
                LockSupport.parkNanos(20_000);
            } else {
                Thread.onSpinWait();
            }
        }
        finished.accumulateAndGet(ticket, Math::max);
    }

    /**
     * Waits, with the deadline, for every launch queued without a wait: called before a copy, which would otherwise
     * wait for them inside the driver with no deadline at all.
     */
    void drain(String why) {
        long ticket = queued.get();
        if (finished.get() >= ticket) {
            return;
        }
        CuDriver drv = CuDriver.get();
        drv.setCurrent(context());
        MemorySegment e = drainEvents.get();
        drv.record(e);
        await(e, "the launches queued before " + why, ticket);
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
