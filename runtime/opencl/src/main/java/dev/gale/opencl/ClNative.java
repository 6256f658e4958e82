package dev.gale.opencl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * The OpenCL 1.2 entry points Gale uses, bound with the Foreign Function and Memory API. Types follow the C API on
 * LP64: {@code size_t} and bitfields are {@code long}, {@code cl_uint}/{@code cl_int}/{@code cl_bool} are
 * {@code int}, handles are addresses. Loading never throws a linker stack trace: a missing library becomes an
 * {@link OpenClException} that says what to install.
 */
final class ClNative {
    static final String INSTALL_HINT = "install an OpenCL ICD loader and a driver, for example "
            + "'apt-get install ocl-icd-libopencl1 pocl-opencl-icd' (PoCL runs OpenCL on the CPU)";

    private static volatile ClNative instance;
    private static volatile String loadError;

    final MethodHandle getPlatformIDs;
    final MethodHandle getPlatformInfo;
    final MethodHandle getDeviceIDs;
    final MethodHandle getDeviceInfo;
    final MethodHandle createContext;
    final MethodHandle createCommandQueue;
    final MethodHandle createBuffer;
    final MethodHandle enqueueWriteBuffer;
    final MethodHandle enqueueReadBuffer;
    final MethodHandle enqueueMapBuffer;
    final MethodHandle enqueueUnmapMemObject;
    final MethodHandle createProgramWithSource;
    final MethodHandle createProgramWithBinary;
    final MethodHandle buildProgram;
    final MethodHandle getProgramBuildInfo;
    final MethodHandle getProgramInfo;
    final MethodHandle createKernel;
    final MethodHandle setKernelArg;
    final MethodHandle enqueueNDRangeKernel;
    final MethodHandle flush;
    final MethodHandle finish;
    final MethodHandle getEventInfo;
    final MethodHandle getEventProfilingInfo;
    final MethodHandle setEventCallback;
    final MethodHandle releaseEvent;
    final MethodHandle releaseMemObject;
    final MethodHandle releaseKernel;
    final MethodHandle releaseProgram;
    final MethodHandle releaseCommandQueue;
    final MethodHandle releaseContext;

    private ClNative(SymbolLookup lib) {
        Linker l = Linker.nativeLinker();
        getPlatformIDs = bind(l, lib, "clGetPlatformIDs", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        getPlatformInfo = bind(l, lib, "clGetPlatformInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        getDeviceIDs = bind(l, lib, "clGetDeviceIDs",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        getDeviceInfo = bind(l, lib, "clGetDeviceInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        createContext = bind(l, lib, "clCreateContext",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        createCommandQueue = bind(l, lib, "clCreateCommandQueue",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        createBuffer = bind(l, lib, "clCreateBuffer",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
        FunctionDescriptor rw = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG,
                ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
        enqueueWriteBuffer = bind(l, lib, "clEnqueueWriteBuffer", rw);
        enqueueReadBuffer = bind(l, lib, "clEnqueueReadBuffer", rw);
        enqueueMapBuffer = bind(l, lib, "clEnqueueMapBuffer", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS,
                JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        enqueueUnmapMemObject = bind(l, lib, "clEnqueueUnmapMemObject",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        createProgramWithSource = bind(l, lib, "clCreateProgramWithSource",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        createProgramWithBinary = bind(l, lib, "clCreateProgramWithBinary",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        buildProgram = bind(l, lib, "clBuildProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        getProgramBuildInfo = bind(l, lib, "clGetProgramBuildInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        getProgramInfo = bind(l, lib, "clGetProgramInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        createKernel = bind(l, lib, "clCreateKernel", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        setKernelArg = bind(l, lib, "clSetKernelArg",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS));
        enqueueNDRangeKernel = bind(l, lib, "clEnqueueNDRangeKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS,
                ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        flush = bind(l, lib, "clFlush", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        finish = bind(l, lib, "clFinish", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getEventInfo = bind(l, lib, "clGetEventInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        getEventProfilingInfo = bind(l, lib, "clGetEventProfilingInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        setEventCallback = bind(l, lib, "clSetEventCallback",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        FunctionDescriptor release = FunctionDescriptor.of(JAVA_INT, ADDRESS);
        releaseEvent = bind(l, lib, "clReleaseEvent", release);
        releaseMemObject = bind(l, lib, "clReleaseMemObject", release);
        releaseKernel = bind(l, lib, "clReleaseKernel", release);
        releaseProgram = bind(l, lib, "clReleaseProgram", release);
        releaseCommandQueue = bind(l, lib, "clReleaseCommandQueue", release);
        releaseContext = bind(l, lib, "clReleaseContext", release);
    }

    private static MethodHandle bind(Linker l, SymbolLookup lib, String name, FunctionDescriptor d) {
        MemorySegment sym = lib.find(name).orElseThrow(() -> new OpenClException("the OpenCL library lacks " + name
                + "; it is older than OpenCL 1.2 or not an OpenCL library"));
        return l.downcallHandle(sym, d);
    }

    /** The binding, or an exception that says what to install. */
    static ClNative get() {
        ClNative n = instance;
        if (n != null) {
            return n;
        }
        synchronized (ClNative.class) {
            if (instance != null) {
                return instance;
            }
            if (loadError != null) {
                throw new OpenClException(loadError);
            }
            String lib = System.getProperty("gale.opencl.library", "libOpenCL.so.1");
            try {
                instance = load(lib);
                return instance;
            } catch (OpenClException e) {
                loadError = e.getMessage();
                throw e;
            }
        }
    }

    /** Binds {@code lib} (a name the dynamic linker resolves, or a path) without touching the shared instance. */
    static ClNative load(String lib) {
        try {
            return new ClNative(SymbolLookup.libraryLookup(lib, Arena.global()));
        } catch (IllegalArgumentException | OpenClException e) {
            throw new OpenClException("OpenCL library " + lib + " cannot be loaded (" + e.getMessage() + "); "
                    + INSTALL_HINT);
        }
    }

    static void check(String call, int code) {
        if (code != 0) {
            throw new OpenClException(call, code, null);
        }
    }

    static void check(String call, int code, String detail) {
        if (code != 0) {
            throw new OpenClException(call, code, detail);
        }
    }
}
