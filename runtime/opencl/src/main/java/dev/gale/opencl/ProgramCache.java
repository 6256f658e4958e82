package dev.gale.opencl;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * Program builds cached in memory (per context) and on disk (per machine), keyed by a hash of the source, the build
 * options, the device name, the driver version and the OpenCL C version, so a driver upgrade never loads a stale
 * binary. The disk cache lives in {@code -Dgale.opencl.cacheDir}, else {@code $XDG_CACHE_HOME/gale/opencl}, else
 * {@code ~/.cache/gale/opencl}; entries are written atomically (temporary file, then rename). A binary the driver
 * rejects is deleted and rebuilt from source.
 */
final class ProgramCache {
    private static final int PROGRAM_BINARY_SIZES = 0x1165;
    private static final int PROGRAM_BINARIES = 0x1166;
    private static final int PROGRAM_BUILD_LOG = 0x1183;

    private final ClContext context;
    private final Map<String, ClProgram> memory = new HashMap<>();
    private final Path dir;

    ProgramCache(ClContext context) {
        this.context = context;
        String configured = System.getProperty("gale.opencl.cacheDir");
        String xdg = System.getenv("XDG_CACHE_HOME");
        this.dir = configured != null ? Path.of(configured)
                : xdg != null ? Path.of(xdg, "gale", "opencl")
                : Path.of(System.getProperty("user.home"), ".cache", "gale", "opencl");
    }

    ClProgram get(String source, String options) {
        OpenClDevice d = context.device();
        String key = hash(source + '\0' + options + '\0' + d.name() + '\0' + d.driverVersion() + '\0'
                + d.openClCVersion());
        ClProgram hit = memory.get(key);
        if (hit != null) {
            return hit.asMemoryHit();
        }
        long t0 = System.nanoTime();
        ClProgram p = null;
        Path file = dir.resolve(key + ".bin");
        if (Files.isReadable(file)) {
            p = fromBinary(file, source, options, key, t0);
        }
        if (p == null) {
            MemorySegment prog = fromSource(source);
            build(prog, options, source);
            p = new ClProgram(context, prog, key, ClProgram.Origin.BUILT_FROM_SOURCE, System.nanoTime() - t0);
            store(prog, file);
        }
        memory.put(key, p);
        return p;
    }

    private MemorySegment fromSource(String source) {
        ClNative n = context.native_();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment strings = a.allocate(ValueLayout.ADDRESS);
            strings.set(ValueLayout.ADDRESS, 0, a.allocateFrom(source));
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment prog = (MemorySegment) n.createProgramWithSource.invokeExact(context.handle(), 1, strings,
                    MemorySegment.NULL, err);
            ClNative.check("clCreateProgramWithSource", err.get(ValueLayout.JAVA_INT, 0));
            return prog;
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clCreateProgramWithSource failed: " + t);
        }
    }

    private void build(MemorySegment prog, String options, String source) {
        ClNative n = context.native_();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment devs = a.allocate(ValueLayout.ADDRESS);
            devs.set(ValueLayout.ADDRESS, 0, context.device().handle());
            int rc = (int) n.buildProgram.invokeExact(prog, 1, devs, a.allocateFrom(options), MemorySegment.NULL,
                    MemorySegment.NULL);
            if (rc != 0) {
                String log = buildLog(prog);
                context.release("clReleaseProgram", n.releaseProgram, prog);
                throw new KernelBuildException(context.device().toString(), rc, log, source);
            }
        } catch (OpenClException e) {
            throw e;
        } catch (Throwable t) {
            throw new OpenClException("clBuildProgram failed: " + t);
        }
    }

    private String buildLog(MemorySegment prog) throws Throwable {
        ClNative n = context.native_();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment len = a.allocate(ValueLayout.JAVA_LONG);
            int rc = (int) n.getProgramBuildInfo.invokeExact(prog, context.device().handle(), PROGRAM_BUILD_LOG, 0L,
                    MemorySegment.NULL, len);
            if (rc != 0) {
                return "(no build log: clGetProgramBuildInfo returned " + ClError.name(rc) + ")";
            }
            long size = len.get(ValueLayout.JAVA_LONG, 0);
            MemorySegment log = a.allocate(Math.max(1, size));
            rc = (int) n.getProgramBuildInfo.invokeExact(prog, context.device().handle(), PROGRAM_BUILD_LOG, size, log,
                    MemorySegment.NULL);
            return rc == 0 ? log.getString(0) : "(no build log: " + ClError.name(rc) + ")";
        }
    }

    private ClProgram fromBinary(Path file, String source, String options, String key, long t0) {
        ClNative n = context.native_();
        try (Arena a = Arena.ofConfined()) {
            byte[] bin = Files.readAllBytes(file);
            MemorySegment binSeg = a.allocateFrom(ValueLayout.JAVA_BYTE, bin);
            MemorySegment ptrs = a.allocate(ValueLayout.ADDRESS);
            ptrs.set(ValueLayout.ADDRESS, 0, binSeg);
            MemorySegment lens = a.allocateFrom(ValueLayout.JAVA_LONG, bin.length);
            MemorySegment devs = a.allocate(ValueLayout.ADDRESS);
            devs.set(ValueLayout.ADDRESS, 0, context.device().handle());
            MemorySegment status = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment prog = (MemorySegment) n.createProgramWithBinary.invokeExact(context.handle(), 1, devs, lens,
                    ptrs, status, err);
            if (err.get(ValueLayout.JAVA_INT, 0) != 0 || status.get(ValueLayout.JAVA_INT, 0) != 0) {
                Files.deleteIfExists(file);
                return null;
            }
            int rc = (int) n.buildProgram.invokeExact(prog, 1, devs, a.allocateFrom(options), MemorySegment.NULL,
                    MemorySegment.NULL);
            if (rc != 0) {
                context.release("clReleaseProgram", n.releaseProgram, prog);
                Files.deleteIfExists(file);
                return null;
            }
            return new ClProgram(context, prog, key, ClProgram.Origin.DISK_CACHE, System.nanoTime() - t0);
        } catch (Throwable t) {
            // An unreadable or rejected cache entry is only a cache miss: build from source instead.
            return null;
        }
    }

    private void store(MemorySegment prog, Path file) {
        ClNative n = context.native_();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment size = a.allocate(ValueLayout.JAVA_LONG);
            int rc = (int) n.getProgramInfo.invokeExact(prog, PROGRAM_BINARY_SIZES, 8L, size, MemorySegment.NULL);
            long len = size.get(ValueLayout.JAVA_LONG, 0);
            if (rc != 0 || len <= 0 || len > Integer.MAX_VALUE) {
                return;
            }
            MemorySegment bin = a.allocate(len);
            MemorySegment ptrs = a.allocate(ValueLayout.ADDRESS);
            ptrs.set(ValueLayout.ADDRESS, 0, bin);
            rc = (int) n.getProgramInfo.invokeExact(prog, PROGRAM_BINARIES, 8L, ptrs, MemorySegment.NULL);
            if (rc != 0) {
                return;
            }
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "build", ".tmp");
            Files.write(tmp, bin.toArray(ValueLayout.JAVA_BYTE));
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (Throwable t) {
            // The disk cache is an optimisation: an unwritable cache directory only costs a rebuild next time.
        }
    }

    void close() {
        for (ClProgram p : memory.values()) {
            context.release("clReleaseProgram", context.native_().releaseProgram, p.handle());
        }
        memory.clear();
    }

    private static String hash(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(s.getBytes(StandardCharsets.UTF_8))).substring(0, 40);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
