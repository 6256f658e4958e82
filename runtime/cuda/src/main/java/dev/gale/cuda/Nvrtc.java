package dev.gale.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * NVRTC, the run-time CUDA C compiler, bound with the Foreign Function and Memory API. It compiles the CUDA C that
 * {@code gale-compiler} emitted into a CUBIN for the device's own architecture, so the driver loads machine code and
 * never JIT-compiles PTX (which would also fail whenever NVRTC is newer than the driver). A failed compile is a
 * {@link KernelBuildException} carrying the whole compiler log.
 */
final class Nvrtc {
    private static volatile Nvrtc instance;
    private static volatile String loadError;

    final String libraryPath;
    private final MethodHandle version;
    private final MethodHandle createProgram;
    private final MethodHandle compileProgram;
    private final MethodHandle getProgramLogSize;
    private final MethodHandle getProgramLog;
    private final MethodHandle getCubinSize;
    private final MethodHandle getCubin;
    private final MethodHandle destroyProgram;
    private final MethodHandle getErrorString;

    private Nvrtc(NativeLibrary lib) {
        this.libraryPath = lib.path();
        Linker l = Linker.nativeLinker();
        SymbolLookup s = lib.lookup();
        version = bind(l, s, "nvrtcVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        createProgram = bind(l, s, "nvrtcCreateProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        compileProgram = bind(l, s, "nvrtcCompileProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        getProgramLogSize = bind(l, s, "nvrtcGetProgramLogSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        getProgramLog = bind(l, s, "nvrtcGetProgramLog", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        getCubinSize = bind(l, s, "nvrtcGetCUBINSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        getCubin = bind(l, s, "nvrtcGetCUBIN", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        destroyProgram = bind(l, s, "nvrtcDestroyProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getErrorString = bind(l, s, "nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    static Nvrtc get() {
        Nvrtc n = instance;
        if (n != null) {
            return n;
        }
        synchronized (Nvrtc.class) {
            if (instance != null) {
                return instance;
            }
            if (loadError != null) {
                throw new CudaException(loadError);
            }
            try {
                instance = new Nvrtc(NativeLibrary.open("NVRTC (libnvrtc, from the CUDA toolkit or the "
                        + "nvidia-cuda-nvrtc wheel)", "gale.cuda.nvrtcLibrary",
                        List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"), "libnvrtc.so",
                        NativeLibrary.searchDirs()));
                return instance;
            } catch (CudaException e) {
                loadError = e.getMessage();
                throw e;
            }
        }
    }

    private static MethodHandle bind(Linker l, SymbolLookup s, String name, FunctionDescriptor fd) {
        return l.downcallHandle(s.find(name).orElseThrow(() -> new CudaException("NVRTC lacks " + name)), fd);
    }

    /** {@code major.minor} of this NVRTC. */
    String version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment major = a.allocate(JAVA_INT);
            MemorySegment minor = a.allocate(JAVA_INT);
            check("nvrtcVersion", (int) version.invokeExact(major, minor));
            return major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw t instanceof CudaException c ? c : new CudaException("nvrtcVersion failed: " + t);
        }
    }

    /**
     * Compiles {@code source} to a CUBIN. Which architectures this NVRTC supports is not queried first: an
     * unsupported {@code --gpu-architecture} fails the compile with NVRTC's own message.
     */
    byte[] compileCubin(String source, String name, List<String> options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(ADDRESS);
            check("nvrtcCreateProgram(" + name + ")", (int) createProgram.invokeExact(prog, a.allocateFrom(source),
                    a.allocateFrom(name), 0, MemorySegment.NULL, MemorySegment.NULL));
            MemorySegment p = prog.get(ADDRESS, 0);
            try {
                MemorySegment opts = a.allocate(ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) {
                    opts.setAtIndex(ADDRESS, i, a.allocateFrom(options.get(i)));
                }
                int rc = (int) compileProgram.invokeExact(p, options.size(), opts);
                if (rc != 0) {
                    throw new KernelBuildException(name, options, errorString(rc) + " (" + rc + ")", log(a, p),
                            source);
                }
                MemorySegment size = a.allocate(JAVA_LONG);
                check("nvrtcGetCUBINSize(" + name + ")", (int) getCubinSize.invokeExact(p, size));
                long n = size.get(JAVA_LONG, 0);
                MemorySegment bin = a.allocate(Math.max(1, n));
                check("nvrtcGetCUBIN(" + name + ")", (int) getCubin.invokeExact(p, bin));
                return bin.asSlice(0, n).toArray(JAVA_BYTE);
            } finally {
                int ignored = (int) destroyProgram.invokeExact(prog);
            }
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("NVRTC compile of " + name + " failed: " + t);
        }
    }

    private String log(Arena a, MemorySegment p) throws Throwable {
        MemorySegment size = a.allocate(JAVA_LONG);
        if ((int) getProgramLogSize.invokeExact(p, size) != 0) {
            return "(no log)";
        }
        MemorySegment log = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
        if ((int) getProgramLog.invokeExact(p, log) != 0) {
            return "(no log)";
        }
        return log.getString(0);
    }

    private void check(String call, int rc) {
        if (rc != 0) {
            throw new CudaException(call, rc, errorString(rc), null);
        }
    }

    private String errorString(int rc) {
        try {
            MemorySegment s = (MemorySegment) getErrorString.invokeExact(rc);
            return s.equals(MemorySegment.NULL) ? "nvrtcResult " + rc : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "nvrtcResult " + rc;
        }
    }

    /** Options for a CUBIN of compute capability {@code major.minor}, then the kernel's own. */
    static List<String> options(int major, int minor, String kernelOptions) {
        List<String> o = new ArrayList<>();
        o.add("--gpu-architecture=sm_" + major + minor);
        for (String s : kernelOptions.trim().split("\\s+")) {
            if (!s.isEmpty()) {
                o.add(s);
            }
        }
        return o;
    }
}
