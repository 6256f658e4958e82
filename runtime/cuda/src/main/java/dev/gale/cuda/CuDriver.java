package dev.gale.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Optional;

/**
 * The CUDA driver API calls Gale uses, bound with the Foreign Function and Memory API, each wrapped so that a failure
 * is a {@link CudaException} with the call and the driver's error name. Types follow {@code cuda.h} on LP64:
 * {@code CUresult}, {@code CUdevice} and attributes are {@code int}, {@code CUdeviceptr} and {@code size_t} are
 * {@code long}, the other handles are addresses. Every call here works on the calling thread's current context, so
 * callers make a context current first ({@link #setCurrent}).
 */
final class CuDriver {
    static final int SUCCESS = 0;
    static final int ERROR_NOT_READY = 600;
    static final int ERROR_OUT_OF_MEMORY = 2;

    // CUdevice_attribute values from cuda.h.
    static final int ATTR_MAX_THREADS_PER_BLOCK = 1;
    static final int ATTR_MAX_SHARED_MEMORY_PER_BLOCK = 8;
    static final int ATTR_WARP_SIZE = 10;
    static final int ATTR_CLOCK_RATE = 13;
    static final int ATTR_MULTIPROCESSOR_COUNT = 16;
    static final int ATTR_MEMORY_CLOCK_RATE = 36;
    static final int ATTR_GLOBAL_MEMORY_BUS_WIDTH = 37;
    static final int ATTR_L2_CACHE_SIZE = 38;
    static final int ATTR_MAX_THREADS_PER_MULTIPROCESSOR = 39;
    static final int ATTR_COMPUTE_CAPABILITY_MAJOR = 75;
    static final int ATTR_COMPUTE_CAPABILITY_MINOR = 76;
    static final int ATTR_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81;
    // CUfunction_attribute values.
    static final int FUNC_MAX_THREADS_PER_BLOCK = 0;
    static final int FUNC_NUM_REGS = 4;

    private static volatile CuDriver instance;
    private static volatile String loadError;

    final String libraryPath;
    private final MethodHandle init;
    private final MethodHandle driverGetVersion;
    private final MethodHandle deviceGetCount;
    private final MethodHandle deviceGet;
    private final MethodHandle deviceGetName;
    private final MethodHandle deviceGetAttribute;
    private final MethodHandle deviceTotalMem;
    private final MethodHandle primaryCtxRetain;
    private final MethodHandle ctxSetCurrent;
    private final MethodHandle memAlloc;
    private final MethodHandle memFree;
    private final MethodHandle memcpyHtoD;
    private final MethodHandle memcpyDtoH;
    private final MethodHandle moduleLoadData;
    private final MethodHandle moduleGetFunction;
    private final MethodHandle moduleUnload;
    private final MethodHandle funcGetAttribute;
    private final MethodHandle launchKernel;
    private final MethodHandle eventCreate;
    private final MethodHandle eventRecord;
    private final MethodHandle eventQuery;
    private final MethodHandle eventElapsedTime;
    private final MethodHandle eventDestroy;
    private final MethodHandle getErrorName;

    private CuDriver(NativeLibrary lib) {
        this.libraryPath = lib.path();
        Linker l = Linker.nativeLinker();
        SymbolLookup s = lib.lookup();
        init = bind(l, s, FunctionDescriptor.of(JAVA_INT, JAVA_INT), "cuInit");
        driverGetVersion = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuDriverGetVersion");
        deviceGetCount = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuDeviceGetCount");
        deviceGet = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuDeviceGet");
        deviceGetName = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), "cuDeviceGetName");
        deviceGetAttribute = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                "cuDeviceGetAttribute");
        deviceTotalMem = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuDeviceTotalMem_v2");
        primaryCtxRetain = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuDevicePrimaryCtxRetain");
        ctxSetCurrent = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuCtxSetCurrent");
        memAlloc = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), "cuMemAlloc_v2");
        memFree = bind(l, s, FunctionDescriptor.of(JAVA_INT, JAVA_LONG), "cuMemFree_v2");
        memcpyHtoD = bind(l, s, FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG), "cuMemcpyHtoD_v2");
        memcpyDtoH = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), "cuMemcpyDtoH_v2");
        moduleLoadData = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cuModuleLoadData");
        moduleGetFunction = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS),
                "cuModuleGetFunction");
        moduleUnload = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuModuleUnload");
        funcGetAttribute = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS),
                "cuFuncGetAttribute");
        launchKernel = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS), "cuLaunchKernel");
        eventCreate = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuEventCreate");
        eventRecord = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cuEventRecord");
        eventQuery = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuEventQuery");
        // CUDA 12.8 added a _v2 with the same signature; cuda.h 13 maps the plain name onto it.
        eventElapsedTime = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS),
                "cuEventElapsedTime_v2", "cuEventElapsedTime");
        eventDestroy = bind(l, s, FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuEventDestroy_v2");
        getErrorName = bind(l, s, FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "cuGetErrorName");
    }

    /** The driver, loaded and initialised once; throws a {@link CudaException} saying why it is unavailable. */
    static CuDriver get() {
        CuDriver d = instance;
        if (d != null) {
            return d;
        }
        synchronized (CuDriver.class) {
            if (instance != null) {
                return instance;
            }
            if (loadError != null) {
                throw new CudaException(loadError);
            }
            try {
                NativeLibrary lib = NativeLibrary.open("the CUDA driver library (libcuda, installed with the NVIDIA "
                        + "driver)", "gale.cuda.driverLibrary", List.of("libcuda.so.1", "libcuda.so"), "libcuda.so",
                        List.of(java.nio.file.Path.of("/usr/local/nvidia/lib64"),
                                java.nio.file.Path.of("/usr/lib/x86_64-linux-gnu"),
                                java.nio.file.Path.of("/usr/lib64")));
                CuDriver drv = new CuDriver(lib);
                drv.check("cuInit", (int) drv.init.invokeExact(0));
                instance = drv;
                return drv;
            } catch (CudaException e) {
                loadError = e.getMessage();
                throw e;
            } catch (Throwable t) {
                loadError = "loading the CUDA driver failed: " + t;
                throw new CudaException(loadError);
            }
        }
    }

    private static MethodHandle bind(Linker l, SymbolLookup s, FunctionDescriptor fd, String... names) {
        for (String n : names) {
            Optional<MemorySegment> sym = s.find(n);
            if (sym.isPresent()) {
                return l.downcallHandle(sym.get(), fd);
            }
        }
        throw new CudaException("the CUDA driver library lacks " + String.join(" and ", names)
                + " (a driver older than CUDA 12?)");
    }

    /** {@code cuGetErrorName} of {@code code}, or the number when the driver does not know it. */
    String errorName(int code) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            int rc = (int) getErrorName.invokeExact(code, p);
            MemorySegment str = p.get(ADDRESS, 0);
            return rc == SUCCESS && !str.equals(MemorySegment.NULL) ? str.reinterpret(256).getString(0)
                    : "CUresult " + code;
        } catch (Throwable t) {
            return "CUresult " + code;
        }
    }

    void check(String call, int rc) {
        if (rc != SUCCESS) {
            throw new CudaException(call, rc, errorName(rc), null);
        }
    }

    private static CudaException wrap(String call, Throwable t) {
        return t instanceof CudaException c ? c : new CudaException(call + " failed: " + t);
    }

    int driverVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuDriverGetVersion", (int) driverGetVersion.invokeExact(v));
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw wrap("cuDriverGetVersion", t);
        }
    }

    int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuDeviceGetCount", (int) deviceGetCount.invokeExact(v));
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw wrap("cuDeviceGetCount", t);
        }
    }

    int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuDeviceGet(" + ordinal + ")", (int) deviceGet.invokeExact(v, ordinal));
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw wrap("cuDeviceGet", t);
        }
    }

    String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(256);
            check("cuDeviceGetName", (int) deviceGetName.invokeExact(v, 256, device));
            return v.getString(0);
        } catch (Throwable t) {
            throw wrap("cuDeviceGetName", t);
        }
    }

    /** The attribute's value, or -1 where this driver no longer reports it (CUDA 13 dropped some clock queries). */
    int attribute(int device, int attribute) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            int rc = (int) deviceGetAttribute.invokeExact(v, attribute, device);
            return rc == SUCCESS ? v.get(JAVA_INT, 0) : -1;
        } catch (Throwable t) {
            throw wrap("cuDeviceGetAttribute", t);
        }
    }

    long totalMemory(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            check("cuDeviceTotalMem", (int) deviceTotalMem.invokeExact(v, device));
            return v.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw wrap("cuDeviceTotalMem", t);
        }
    }

    /** The device's primary context (shared with any other CUDA user in the process, as the runtime API does). */
    MemorySegment primaryContext(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check("cuDevicePrimaryCtxRetain", (int) primaryCtxRetain.invokeExact(v, device));
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw wrap("cuDevicePrimaryCtxRetain", t);
        }
    }

    void setCurrent(MemorySegment context) {
        try {
            check("cuCtxSetCurrent", (int) ctxSetCurrent.invokeExact(context));
        } catch (Throwable t) {
            throw wrap("cuCtxSetCurrent", t);
        }
    }

    /** Device memory, or a {@link DeviceMemoryException} when the device has too little left. */
    long alloc(long bytes, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            int rc = (int) memAlloc.invokeExact(v, Math.max(1L, bytes));
            if (rc == ERROR_OUT_OF_MEMORY) {
                throw new DeviceMemoryException("cuMemAlloc(" + what + ", " + bytes + " bytes): "
                        + errorName(rc));
            }
            check("cuMemAlloc(" + what + ", " + bytes + " bytes)", rc);
            return v.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw wrap("cuMemAlloc", t);
        }
    }

    void free(long pointer) {
        try {
            check("cuMemFree", (int) memFree.invokeExact(pointer));
        } catch (Throwable t) {
            throw wrap("cuMemFree", t);
        }
    }

    void copyToDevice(long dst, MemorySegment src, long bytes, String what) {
        try {
            check("cuMemcpyHtoD(" + what + ", " + bytes + " bytes)", (int) memcpyHtoD.invokeExact(dst, src, bytes));
        } catch (Throwable t) {
            throw wrap("cuMemcpyHtoD", t);
        }
    }

    void copyToHost(MemorySegment dst, long src, long bytes, String what) {
        try {
            check("cuMemcpyDtoH(" + what + ", " + bytes + " bytes)", (int) memcpyDtoH.invokeExact(dst, src, bytes));
        } catch (Throwable t) {
            throw wrap("cuMemcpyDtoH", t);
        }
    }

    /** Loads a CUBIN (or PTX) image; {@code image} must stay readable during the call only. */
    MemorySegment loadModule(MemorySegment image, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check("cuModuleLoadData(" + what + ")", (int) moduleLoadData.invokeExact(v, image));
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw wrap("cuModuleLoadData", t);
        }
    }

    MemorySegment function(MemorySegment module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check("cuModuleGetFunction(" + name + ")",
                    (int) moduleGetFunction.invokeExact(v, module, a.allocateFrom(name)));
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw wrap("cuModuleGetFunction", t);
        }
    }

    void unloadModule(MemorySegment module) {
        try {
            check("cuModuleUnload", (int) moduleUnload.invokeExact(module));
        } catch (Throwable t) {
            throw wrap("cuModuleUnload", t);
        }
    }

    int functionAttribute(MemorySegment function, int attribute) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuFuncGetAttribute", (int) funcGetAttribute.invokeExact(v, attribute, function));
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw wrap("cuFuncGetAttribute", t);
        }
    }

    /** Enqueues on the legacy default stream, which orders it after every copy and launch before it. */
    void launch(MemorySegment function, int[] blocks, int[] threads, MemorySegment params, String what) {
        try {
            int rc = (int) launchKernel.invokeExact(function, blocks[0], blocks[1], blocks[2], threads[0], threads[1],
                    threads[2], 0, MemorySegment.NULL, params, MemorySegment.NULL);
            check("cuLaunchKernel(" + what + ")", rc);
        } catch (Throwable t) {
            throw wrap("cuLaunchKernel", t);
        }
    }

    MemorySegment createEvent() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check("cuEventCreate", (int) eventCreate.invokeExact(v, 0));
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw wrap("cuEventCreate", t);
        }
    }

    void record(MemorySegment event) {
        try {
            check("cuEventRecord", (int) eventRecord.invokeExact(event, MemorySegment.NULL));
        } catch (Throwable t) {
            throw wrap("cuEventRecord", t);
        }
    }

    /** True once the event has completed; a kernel fault shows here as the fault's error. */
    boolean done(MemorySegment event, String what) {
        try {
            int rc = (int) eventQuery.invokeExact(event);
            if (rc == ERROR_NOT_READY) {
                return false;
            }
            check(what, rc);
            return true;
        } catch (Throwable t) {
            throw wrap(what, t);
        }
    }

    float elapsedMillis(MemorySegment start, MemorySegment end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_FLOAT);
            check("cuEventElapsedTime", (int) eventElapsedTime.invokeExact(v, start, end));
            return v.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw wrap("cuEventElapsedTime", t);
        }
    }

    void destroyEvent(MemorySegment event) {
        try {
            check("cuEventDestroy", (int) eventDestroy.invokeExact(event));
        } catch (Throwable t) {
            throw wrap("cuEventDestroy", t);
        }
    }
}
