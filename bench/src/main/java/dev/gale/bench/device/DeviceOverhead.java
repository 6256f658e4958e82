package dev.gale.bench.device;

import dev.gale.bench.BenchDevices;
import dev.gale.bench.probe.Stats;
import dev.gale.bench.report.Report;
import dev.gale.bench.report.Table;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelSource;
import dev.gale.kernels.activation.ActivationKernels;
import dev.gale.kernels.gemm.GemvKernels;
import dev.gale.opencl.ClBuffer;
import dev.gale.opencl.ClContext;
import dev.gale.opencl.ClKernel;
import dev.gale.opencl.ClProgram;
import dev.gale.opencl.KernelLauncher;
import dev.gale.opencl.OpenClDevice;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Program build times and launch overhead on one device, as one report table.
 *
 * <p><b>Builds</b> of a representative program, the F32 GEMV kernel the graph ops ship ({@code gemvF32Rows16}):
 * <ul>
 *   <li><i>cold</i>: a new context whose Gale disk cache is a fresh temporary directory ({@code gale.opencl.cacheDir}
 *       is set only while it is created), and a program neither Gale nor the driver has seen — the kernel source
 *       plus a one-line kernel with a random name and constant ({@link #nonced}) — so Gale's cache and the driver's
 *       own cache (PoCL's, in {@code POCL_CACHE_DIR}) both miss. Timed: {@code ClContext.program} (create from source +
 *       {@code clBuildProgram} + storing the binary), then the first launch on 64 items (enqueue to event complete;
 *       on PoCL this includes compiling the work-group-size specialisation). The ICD load and device discovery, done
 *       once per process, are not in it.</li>
 *   <li><i>warm disk</i>: another new context with the same cache directory and source: Gale loads its binary
 *       ({@code clCreateProgramWithBinary} + {@code clBuildProgram}); then its first launch (PoCL finds the
 *       specialisation in its own cache).</li>
 *   <li><i>memory hit</i>: the same source again in the cold run's context ({@code ClContext.program} wall time).</li>
 * </ul>
 * <p><b>Launch overhead</b> of a tiny kernel (residual add of 64 floats, one work group), program built and first
 * launch done beforehand: the round trip through {@link KernelLauncher#launch} (Gale's whole launch path: checks,
 * arguments, enqueue, flush, waiting on the event, profiling query); the round trip through {@code ClContext.run}
 * with the arguments already set (enqueue, flush, wait, profiling query); and back-to-back enqueues with one
 * {@code clFinish} at the end, per launch. The tiny kernel's profiled time is shown so the overhead can be read off.
 */
final class DeviceOverhead {
    private static final int TINY = 64;
    /** Memory-cache lookups timed per cold build. */
    private static final int MEMORY_HITS = 20;

    private DeviceOverhead() {
    }

    static String title(OpenClDevice d) {
        return BenchDevices.label(d) + ": program build and launch overhead";
    }

    static Table measure(OpenClDevice device, boolean quick) {
        int buildReps = quick ? 2 : 3;
        int launchSamples = quick ? 5 : 10;
        int launchesPerSample = quick ? 200 : 1000;
        List<List<String>> rows = new ArrayList<>();
        builds(device, buildReps, rows);
        launches(device, launchSamples, launchesPerSample, rows);
        List<String> notes = List.of(
                "cold: new context, fresh empty Gale cache dir (-Dgale.opencl.cacheDir set while it is created) and "
                        + "the source plus a one-line kernel with a random name and constant, so Gale's cache and "
                        + "PoCL's (POCL_CACHE_DIR, keyed by source and module) both miss; ICD load and device "
                        + "discovery (once per process) excluded.",
                "warm disk: a second new context on the same cache dir loads Gale's stored binary "
                        + "(clCreateProgramWithBinary + clBuildProgram); memory hit: the same source again in the "
                        + "cold run's context (" + MEMORY_HITS + " lookups per build; includes hashing the source).",
                "first launch: enqueue to event complete of the new kernel on 64 items; on PoCL it includes the "
                        + "work-group-size specialisation, compiled cold and taken from PoCL's cache when warm.",
                "launch round trips: wall time per launch over " + launchesPerSample + " launches per sample, "
                        + launchSamples + " samples (best and median sample), after 200 warm-up launches; "
                        + "back-to-back: " + launchesPerSample + " enqueues then one clFinish, per launch.",
                "Program: GemvKernels.gemvF32Rows16 (the F32 GEMV the graph ops launch); tiny kernel: "
                        + "ActivationKernels.residualAdd on 64 floats, one work group of 64.");
        return new Table(title(device), List.of("what", "best", "median", "n", "detail"), rows, notes);
    }

    private static void builds(OpenClDevice device, int reps, List<List<String>> rows) {
        KernelSource src = KernelSource.load(GemvKernels.class, "gemvF32Rows16");
        String base = src.openclSource(Map.of());
        double[] cold = new double[reps];
        double[] coldLaunch = new double[reps];
        double[] warm = new double[reps];
        double[] warmLaunch = new double[reps];
        double[] memory = new double[reps * MEMORY_HITS];
        List<String> origins = new ArrayList<>();
        Path dir;
        try {
            dir = Files.createTempDirectory("gale-bench-clcache");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary Gale cache dir for the cold build", e);
        }
        try {
            for (int r = 0; r < reps; r++) {
                String source = nonced(base);
                try (ClContext ctx = context(device, dir)) {
                    long t0 = System.nanoTime();
                    ClProgram p = ctx.program(source, "");
                    cold[r] = (System.nanoTime() - t0) * 1e-9;
                    origins.add("cold " + p.origin());
                    coldLaunch[r] = firstLaunch(ctx, p, src);
                    for (int h = 0; h < MEMORY_HITS; h++) {
                        long t1 = System.nanoTime();
                        ClProgram hit = ctx.program(source, "");
                        memory[r * MEMORY_HITS + h] = (System.nanoTime() - t1) * 1e-9;
                        if (h == 0) {
                            origins.add("again " + hit.origin());
                        }
                    }
                }
                try (ClContext ctx = context(device, dir)) {
                    long t0 = System.nanoTime();
                    ClProgram p = ctx.program(source, "");
                    warm[r] = (System.nanoTime() - t0) * 1e-9;
                    origins.add("new context " + p.origin());
                    warmLaunch[r] = firstLaunch(ctx, p, src);
                }
            }
        } finally {
            deleteTree(dir);
        }
        String o = String.join(", ", origins.stream().distinct().toList());
        rows.add(row("cold build (ClContext.program)", cold, "origins: " + o));
        rows.add(row("cold first launch", coldLaunch, "includes PoCL's work-group specialisation"));
        rows.add(row("warm build from Gale's disk cache, new context", warm, "clCreateProgramWithBinary + build"));
        rows.add(row("warm first launch, new context", warmLaunch, ""));
        rows.add(row("memory-cache hit, same context", memory, ""));
    }

    /**
     * {@code source} plus a small kernel no one has built: a comment alone would give a new source hash but the same
     * LLVM module, whose work-group specialisations PoCL would find in its cache; the extra kernel's random constant
     * makes the module new too.
     */
    static String nonced(String source) {
        UUID id = UUID.randomUUID();
        String tag = Long.toHexString(id.getMostSignificantBits()) + Long.toHexString(id.getLeastSignificantBits());
        return source + "\n__kernel void gale_bench_cold_" + tag + "(__global int* p) { p[0] = "
                + (int) id.getLeastSignificantBits() + "; }\n";
    }

    /** A context whose program cache lives in {@code dir}: the property is read when the context is created. */
    private static ClContext context(OpenClDevice device, Path dir) {
        String previous = System.getProperty("gale.opencl.cacheDir");
        System.setProperty("gale.opencl.cacheDir", dir.toString());
        try {
            return ClContext.create(device);
        } finally {
            if (previous == null) {
                System.clearProperty("gale.opencl.cacheDir");
            } else {
                System.setProperty("gale.opencl.cacheDir", previous);
            }
        }
    }

    /** Seconds from enqueue to completion of a new kernel of {@code p} on 64 items (64 x 64 GEMV). */
    private static double firstLaunch(ClContext ctx, ClProgram p, KernelSource src) {
        try (ClKernel k = p.kernel(src.entry()); ClBuffer w = ctx.allocate(4L * TINY * TINY);
             ClBuffer x = ctx.allocate(4L * TINY); ClBuffer y = ctx.allocate(4L * TINY)) {
            Object[] args = {w, x, y, TINY, TINY};
            setArgs(k, src, args);
            long t0 = System.nanoTime();
            ctx.run(k, new long[] {TINY}, new long[] {TINY});
            return (System.nanoTime() - t0) * 1e-9;
        }
    }

    /** Sets {@code args} (buffers and scalars in Java order) at the kernel's argument indices. */
    private static void setArgs(ClKernel k, KernelSource src, Object[] args) {
        int i = 0;
        for (KernelSource.Param p : src.params()) {
            if (p.arg() < 0) {
                continue;
            }
            Object a = args[i++];
            if (a instanceof ClBuffer b) {
                k.arg(p.arg(), b);
            } else {
                k.arg(p.arg(), ((Number) a).intValue());
            }
        }
        if (i != args.length) {
            throw new IllegalStateException(src.entry() + " takes " + i + " device arguments, given " + args.length);
        }
    }

    private static void launches(OpenClDevice device, int samples, int perSample, List<List<String>> rows) {
        double[] viaLauncher = new double[samples];
        double[] viaContext = new double[samples];
        double[] backToBack = new double[samples];
        long kernelMin = Long.MAX_VALUE;
        List<Long> kernelNanos = new ArrayList<>();
        try (KernelLauncher l = KernelLauncher.open(device); Buffer a = Buffers.allocate("a", DType.F32, TINY);
             Buffer b = Buffers.allocate("b", DType.F32, TINY); Buffer out = Buffers.allocate("out", DType.F32, TINY)) {
            KernelSource src = l.source(ActivationKernels.class, "residualAdd");
            Grid g = Grid.of1(TINY, TINY);
            for (int i = 0; i < 200; i++) {
                l.launch(src, Map.of(), g, a, b, out, TINY);
            }
            for (int s = 0; s < samples; s++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < perSample; i++) {
                    long ns = l.launch(src, Map.of(), g, a, b, out, TINY);
                    kernelMin = Math.min(kernelMin, ns);
                    if (i == perSample / 2) {
                        kernelNanos.add(ns);
                    }
                }
                viaLauncher[s] = (System.nanoTime() - t0) * 1e-9 / perSample;
            }
            ClContext ctx = l.context();
            ClProgram p = ctx.program(src.openclSource(Map.of()), "");
            try (ClKernel k = p.kernel(src.entry()); ClBuffer ca = ctx.mirror(a); ClBuffer cb = ctx.mirror(b);
                 ClBuffer co = ctx.mirror(out)) {
                setArgs(k, src, new Object[] {ca, cb, co, TINY});
                long[] global = {TINY};
                long[] local = {TINY};
                for (int i = 0; i < 200; i++) {
                    ctx.run(k, global, local);
                }
                for (int s = 0; s < samples; s++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < perSample; i++) {
                        ctx.run(k, global, local);
                    }
                    viaContext[s] = (System.nanoTime() - t0) * 1e-9 / perSample;
                }
                for (int s = 0; s < samples; s++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < perSample; i++) {
                        ctx.launch(k, global, local).close();
                    }
                    ctx.finish();
                    backToBack[s] = (System.nanoTime() - t0) * 1e-9 / perSample;
                }
            }
        }
        double[] kernel = kernelNanos.stream().mapToDouble(n -> n * 1e-9).toArray();
        rows.add(row("launch round trip, KernelLauncher.launch", viaLauncher, "checks + args + enqueue + flush + "
                + "wait + profiling query"));
        rows.add(row("launch round trip, ClContext.run (args preset)", viaContext, "enqueue + flush + wait + "
                + "profiling query"));
        rows.add(row("back-to-back enqueue, one clFinish, per launch", backToBack, "events released at once"));
        rows.add(List.of("tiny kernel, profiled device time", Report.time(kernelMin * 1e-9),
                Report.time(Stats.median(kernel)), String.valueOf(kernel.length),
                "best over all launcher launches; median of one per sample"));
    }

    private static List<String> row(String what, double[] seconds, String detail) {
        return List.of(what, Report.time(Stats.min(seconds)), Report.time(Stats.median(seconds)),
                String.valueOf(seconds.length), detail);
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            System.out.println("note: could not delete the temporary cache dir " + dir + ": " + e);
        }
    }
}
