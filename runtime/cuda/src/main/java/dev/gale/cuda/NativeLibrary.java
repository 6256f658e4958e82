package dev.gale.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Finds and opens a shared library of the CUDA stack. The driver ({@code libcuda.so.1}) sits where the NVIDIA driver
 * put it, normally on the loader's path; NVRTC ({@code libnvrtc.so.N}) ships with the toolkit or with a Python wheel,
 * often off that path, so the search also walks the usual toolkit and wheel folders. A system property names a file
 * to use instead. Failure lists every place tried, so "not found" is never a guess.
 */
record NativeLibrary(SymbolLookup lookup, String path) {

    /**
     * Opens the first of {@code names} the dynamic loader finds, else the newest file matching {@code prefix} in
     * {@code dirs}; the system property {@code property}, when set, is the only candidate.
     */
    static NativeLibrary open(String what, String property, List<String> names, String prefix, List<Path> dirs) {
        String configured = System.getProperty(property);
        List<String> tried = new ArrayList<>();
        if (configured != null) {
            NativeLibrary l = tryOpen(configured, tried);
            if (l != null) {
                return l;
            }
            throw new CudaException(what + ": -D" + property + "=" + configured + " cannot be opened (" + tried + ")");
        }
        for (String n : names) {
            NativeLibrary l = tryOpen(n, tried);
            if (l != null) {
                return l;
            }
        }
        for (Path dir : dirs) {
            for (Path f : matching(dir, prefix)) {
                NativeLibrary l = tryOpen(f.toString(), tried);
                if (l != null) {
                    return l;
                }
            }
        }
        throw new CudaException(what + " not found; tried " + tried + " and the folders " + dirs
                + " (set -D" + property + "=/path/to/the/library)");
    }

    private static NativeLibrary tryOpen(String nameOrPath, List<String> tried) {
        try {
            // A global arena: the library stays loaded for the JVM's life, as the driver expects.
            return new NativeLibrary(SymbolLookup.libraryLookup(nameOrPath, Arena.global()), nameOrPath);
        } catch (IllegalArgumentException | IllegalCallerException e) {
            tried.add(nameOrPath);
            return null;
        }
    }

    /** Files in {@code dir} named {@code prefix}, {@code prefix.N}, … newest version first. */
    private static List<Path> matching(Path dir, String prefix) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> {
                String n = f.getFileName().toString();
                return n.equals(prefix) || n.startsWith(prefix + ".");
            }).sorted(Comparator.comparing((Path f) -> f.getFileName().toString()).reversed()).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /**
     * Toolkit and wheel folders worth searching: {@code $CUDA_HOME}, {@code $CUDA_PATH}, {@code /usr/local/cuda*},
     * the driver's container mount, and the {@code nvidia/*} wheel folders of the Python installs under
     * {@code /opt} and {@code /usr}.
     */
    static List<Path> searchDirs() {
        Set<Path> dirs = new LinkedHashSet<>();
        for (String env : List.of("CUDA_HOME", "CUDA_PATH")) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) {
                dirs.add(Path.of(v, "lib64"));
                dirs.add(Path.of(v, "lib"));
            }
        }
        List<Path> roots = new ArrayList<>(List.of(Path.of("/usr/local/cuda")));
        roots.addAll(children(Path.of("/usr/local"), "cuda-"));
        for (Path r : roots) {
            dirs.add(r.resolve("lib64"));
            dirs.add(r.resolve("lib"));
            dirs.add(r.resolve("targets/x86_64-linux/lib"));
        }
        dirs.add(Path.of("/usr/local/nvidia/lib64"));
        dirs.add(Path.of("/usr/local/nvidia/lib"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        dirs.add(Path.of("/usr/lib64"));
        for (Path venv : List.of(Path.of("/opt/torch/.venv/lib"), Path.of("/usr/local/lib"), Path.of("/usr/lib"))) {
            for (Path py : children(venv, "python3")) {
                for (String site : List.of("site-packages", "dist-packages")) {
                    Path nv = py.resolve(site).resolve("nvidia");
                    for (Path pkg : children(nv, "")) {
                        dirs.add(pkg.resolve("lib"));
                    }
                }
            }
        }
        return List.copyOf(dirs);
    }

    private static List<Path> children(Path dir, String prefix) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> Files.isDirectory(f) && f.getFileName().toString().startsWith(prefix)).sorted()
                    .toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
