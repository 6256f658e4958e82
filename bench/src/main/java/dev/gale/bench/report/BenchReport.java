package dev.gale.bench.report;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.BenchDevices;
import dev.gale.bench.probe.DeviceProbeRun;
import dev.gale.bench.probe.DeviceProbes;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.ProbeSet;
import dev.gale.bench.probe.RooflineProbes;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.core.device.Device;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The report runner behind {@code scripts/bench}: roofline probes, every {@link BenchCaseProvider}'s cases, probes
 * again, then a Markdown table on stdout and JSON, Markdown and PNG files under {@code --out}.
 *
 * <p>Run it with {@code -Xbatch} (scripts/bench does): compilation then blocks the thread that made a method hot, so
 * warm-ups end on C2 code even when other processes keep the compiler threads waiting.
 *
 * <p>Exit status: 0 when every case ran, 1 when any case (or provider) failed, 2 for bad options.
 * Timing and ratio rules: {@link Report#RULES}, {@link CaseTimer}, {@link RooflineRule}.
 */
public final class BenchReport {
    static final String USAGE = """
            usage: scripts/bench [--no-build] [--quick] [--filter REGEX] [--out DIR] [--threads N] [--probe-mib N]
                                [--device-probes] [--device-probe-mib N]
                   scripts/bench --jmh [JMH args]
              --quick         small case subset, 128 MiB probe streams, shorter warm-up and fewer samples
              --filter REGEX  run only cases whose "op shape impl" contains a match, and only the tables whose
                              title does (probes always run). Device cases and tables name their device in impl
                              and title ("cuda:0 NVIDIA H200", "pocl opencl:0"), so --filter cuda selects every
                              CUDA row, --filter 'opencl:1' one device's
              --out DIR       where the JSON, Markdown and PNG files go (default: bench-results/ at the repo root)
              --threads N     threads of the shared worker pool: the all-threads probes and every case use it
              --probe-mib N   MiB per probe stream (default 512; 128 with --quick)
              --device-probes also run the device probes on devices whose cases keep the host probes as their
                              roofline (CPU devices on host memory, e.g. PoCL), for comparison; they always run,
                              and are the roofline, on each GPU or own-memory device with a selected case
              --device-probe-mib N
                              MiB per device probe stream (default 1024, 256 with --quick, on GPUs and
                              own-memory devices; the host probes' size on the others)""";

    /** Parsed command line. */
    record Options(boolean quick, String filter, Path out, Integer threads, Long probeMib, boolean deviceProbes,
            Long deviceProbeMib) {
        /** Options without the device probe settings (defaults). */
        Options(boolean quick, String filter, Path out, Integer threads, Long probeMib) {
            this(quick, filter, out, threads, probeMib, false, null);
        }

        static Options parse(String[] args) {
            boolean quick = false;
            String filter = null;
            Path out = null;
            Integer threads = null;
            Long probeMib = null;
            boolean deviceProbes = false;
            Long deviceProbeMib = null;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "--quick" -> quick = true;
                    case "--filter" -> filter = value(args, ++i, a);
                    case "--out" -> out = Path.of(value(args, ++i, a));
                    case "--threads" -> threads = positive(value(args, ++i, a), a);
                    case "--probe-mib" -> probeMib = (long) positive(value(args, ++i, a), a);
                    case "--device-probes" -> deviceProbes = true;
                    case "--device-probe-mib" -> deviceProbeMib = (long) positive(value(args, ++i, a), a);
                    default -> throw new IllegalArgumentException("unknown option " + a);
                }
            }
            if (filter != null) {
                try {
                    Pattern.compile(filter);
                } catch (PatternSyntaxException e) {
                    throw new IllegalArgumentException("--filter: not a regex: " + e.getMessage(), e);
                }
            }
            return new Options(quick, filter, out == null ? defaultOut() : out, threads, probeMib, deviceProbes,
                    deviceProbeMib);
        }

        private static String value(String[] args, int i, String option) {
            if (i >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            return args[i];
        }

        private static int positive(String s, String option) {
            try {
                int v = Integer.parseInt(s);
                if (v > 0) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException(option + " needs a positive integer, got '" + s + "'");
        }

        /** {@code bench-results/} under -Dgale.root, else $GALE_ROOT, else the working directory. */
        private static Path defaultOut() {
            String root = System.getProperty("gale.root");
            if (root == null || root.isBlank()) {
                root = System.getenv("GALE_ROOT");
            }
            if (root == null || root.isBlank()) {
                root = System.getProperty("user.dir");
            }
            return Path.of(root, "bench-results");
        }
    }

    private BenchReport() {
    }

    public static void main(String[] args) {
        for (String a : args) {
            if (a.equals("--help") || a.equals("-h")) {
                System.out.println(USAGE);
                return;
            }
        }
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        if (options.threads() != null) {
            // Read once, by the first WorkerPool.shared() call, which nothing before this line makes.
            System.setProperty("gale.threads", options.threads().toString());
        }
        int code = run(options, ServiceLoader.load(BenchCaseProvider.class).iterator(), System.out);
        System.exit(code);
    }

    /** Runs a whole report with the given providers; returns the exit status. */
    static int run(Options options, Iterator<BenchCaseProvider> providers, PrintStream out) {
        ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC);
        String timestamp = now.format(DateTimeFormatter.ISO_OFFSET_DATE_TIME);
        String fileStamp = now.format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Machine machine = Machine.current();
        out.println("# Gale bench " + timestamp);
        out.println(machine.describe());
        if (!ManagementFactory.getRuntimeMXBean().getInputArguments().contains("-Xbatch")) {
            out.println("warning: running without -Xbatch (scripts/bench adds it): on a loaded machine a warm-up can"
                    + " end before C2 has compiled a kernel");
        }
        out.println();

        CaseTimer.Timing timing = options.quick() ? CaseTimer.Timing.quick() : CaseTimer.Timing.standard();
        RooflineProbes.Config probeConfig = options.quick() ? RooflineProbes.Config.quick()
                : RooflineProbes.Config.standard();
        if (options.probeMib() != null) {
            probeConfig = probeConfig.withBytesPerStream(options.probeMib() * RooflineProbes.Config.MIB);
        }

        List<CaseResult> results = new ArrayList<>();
        // The probe streams (3 x 512 MiB by default) are freed while the cases run, so cases have the memory.
        ProbeSet start = runProbes(probeConfig, "start", out);

        Pattern filter = options.filter() == null ? null : Pattern.compile(options.filter());
        List<BenchCaseProvider> loaded = new ArrayList<>();
        List<BenchCase> cases = collect(providers, options.quick(), results, loaded, out);
        List<BenchCase> selected = new ArrayList<>();
        for (BenchCase c : cases) {
            if (filter == null || matches(c, filter)) {
                selected.add(c);
            }
        }
        out.println();
        out.println(selected.size() + " case(s) to run" + (filter == null ? "" : " (" + cases.size()
                + " listed, filter " + filter.pattern() + ")"));
        Map<String, Device> probed = devicesToProbe(selected, options.deviceProbes());
        Map<String, ProbeSet> deviceStart = new LinkedHashMap<>();
        for (Device d : probed.values()) {
            deviceStart.put(d.id(), runDeviceProbes(d, deviceProbeConfig(d, options, probeConfig), "start", results,
                    out));
        }
        for (int i = 0; i < selected.size(); i++) {
            CaseResult r = CaseTimer.measure(selected.get(i), timing);
            results.add(r);
            out.println("[" + (i + 1) + "/" + selected.size() + "] " + progress(r, start, deviceStart));
        }
        List<Table> tables = tables(loaded, options.quick(), filter, results, out);
        out.println();
        ProbeSet end = runProbes(probeConfig, "end", out);
        List<DeviceProbeRun> deviceProbes = new ArrayList<>();
        for (Device d : probed.values()) {
            ProbeSet e = runDeviceProbes(d, deviceProbeConfig(d, options, probeConfig), "end", results, out);
            deviceProbes.add(new DeviceProbeRun(d.id(), BenchDevices.label(d), DeviceProbes.ownRoofline(d),
                    deviceStart.get(d.id()), e));
        }

        Report report = new Report(timestamp, machine, options.quick(), options.filter(), timing, probeConfig, start,
                end, results, tables, deviceProbes);
        out.println();
        out.print(report.probeTable());
        out.println();
        out.print(report.caseTable());
        out.println();
        for (String rule : Report.RULES) {
            out.println("- " + rule);
        }
        out.println();
        String pairs = report.pairTable();
        if (!pairs.isEmpty()) {
            out.print(pairs);
            out.println();
        }
        if (!tables.isEmpty()) {
            out.print(report.extraTables());
        }
        try {
            for (Path p : write(report, options.out(), fileStamp)) {
                out.println("wrote " + p);
            }
        } catch (IOException | RuntimeException e) {
            out.println("error: could not write results to " + options.out() + ": " + e);
            return 1;
        }
        long failed = report.failures();
        if (failed > 0) {
            out.println(failed + " case(s) FAILED");
            return 1;
        }
        return 0;
    }

    /** Writes bench-STAMP.json/.md, latest.json/.md, ratios-STAMP.png, probes-STAMP.png and latest-*.png. */
    static List<Path> write(Report report, Path dir, String stamp) throws IOException {
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        Path json = dir.resolve("bench-" + stamp + ".json");
        Files.writeString(json, report.json());
        written.add(json);
        written.add(Files.copy(json, dir.resolve("latest.json"), StandardCopyOption.REPLACE_EXISTING));
        Path md = dir.resolve("bench-" + stamp + ".md");
        Files.writeString(md, report.markdown());
        written.add(md);
        written.add(Files.copy(md, dir.resolve("latest.md"), StandardCopyOption.REPLACE_EXISTING));
        if (ModuleLayer.boot().findModule("java.desktop").isEmpty()) {
            // A jlink'd runtime for a GPU machine (scripts/gpu-bundle) leaves AWT out; the tables are all there.
            System.out.println("charts skipped: this Java runtime has no java.desktop module");
            return written;
        }
        Path probes = dir.resolve("probes-" + stamp + ".png");
        Charts.writeProbes(report, probes);
        written.add(probes);
        written.add(Files.copy(probes, dir.resolve("latest-probes.png"), StandardCopyOption.REPLACE_EXISTING));
        Path ratios = dir.resolve("ratios-" + stamp + ".png");
        if (Charts.writeRatios(report, ratios)) {
            written.add(ratios);
            written.add(Files.copy(ratios, dir.resolve("latest-ratios.png"), StandardCopyOption.REPLACE_EXISTING));
        } else {
            Files.deleteIfExists(dir.resolve("latest-ratios.png"));
        }
        return written;
    }

    /** Every provider's cases; a provider that cannot load or list its cases becomes a FAILED row. */
    private static List<BenchCase> collect(Iterator<BenchCaseProvider> providers, boolean quick,
            List<CaseResult> failures, List<BenchCaseProvider> loaded, PrintStream out) {
        List<BenchCase> cases = new ArrayList<>();
        int loadErrors = 0;
        while (true) {
            BenchCaseProvider p;
            try {
                if (!providers.hasNext()) {
                    break;
                }
                p = providers.next();
            } catch (ServiceConfigurationError e) {
                failures.add(CaseResult.failed("provider", "-", "-", null, CaseTimer.describe(e)));
                out.println("provider FAILED to load: " + CaseTimer.describe(e));
                if (++loadErrors >= 100) {
                    break;
                }
                continue;
            }
            String name = p.getClass().getName();
            loaded.add(p);
            try {
                List<BenchCase> mine = p.cases(quick);
                out.println("provider " + name + ": " + mine.size() + " case(s)");
                cases.addAll(mine);
            } catch (RuntimeException | LinkageError | AssertionError e) {
                failures.add(CaseResult.failed("provider", name, "-", null, CaseTimer.describe(e)));
                out.println("provider " + name + " FAILED to list cases: " + CaseTimer.describe(e));
            }
        }
        return cases;
    }

    /**
     * Every provider's extra tables whose title the filter accepts; a provider that fails to measure them becomes a
     * FAILED row in the case table.
     */
    private static List<Table> tables(List<BenchCaseProvider> providers, boolean quick, Pattern filter,
            List<CaseResult> failures, PrintStream out) {
        List<Table> tables = new ArrayList<>();
        for (BenchCaseProvider p : providers) {
            String name = p.getClass().getName();
            try {
                List<Table> mine = p.tables(quick, title -> filter == null || filter.matcher(title).find());
                for (Table t : mine) {
                    out.println("table: " + t.title());
                }
                tables.addAll(mine);
            } catch (RuntimeException | LinkageError | AssertionError e) {
                failures.add(CaseResult.failed("tables", name, "-", null, CaseTimer.describe(e)));
                out.println("provider " + name + " FAILED to measure its tables: " + CaseTimer.describe(e));
            }
        }
        return tables;
    }

    /**
     * The devices whose probes this run needs, by id: each selected case's device that has its own roofline, and with
     * {@code all} every selected case's device.
     */
    static Map<String, Device> devicesToProbe(List<BenchCase> selected, boolean all) {
        Map<String, Device> out = new LinkedHashMap<>();
        for (BenchCase c : selected) {
            Device d;
            try {
                d = c.device();
            } catch (RuntimeException e) {
                continue; // the case fails in the timer and says why
            }
            if (d != null && d.kernelRunner() != null && (all || DeviceProbes.ownRoofline(d))) {
                out.putIfAbsent(d.id(), d);
            }
        }
        return out;
    }

    /** Standard or quick sizes; {@code --device-probe-mib}, else the host probes' size on a host-memory device. */
    static DeviceProbes.Config deviceProbeConfig(Device d, Options options, RooflineProbes.Config host) {
        DeviceProbes.Config c = options.quick() ? DeviceProbes.Config.quick() : DeviceProbes.Config.standard();
        if (options.deviceProbeMib() != null) {
            return c.withBytesPerStream(options.deviceProbeMib() * RooflineProbes.Config.MIB);
        }
        return DeviceProbes.ownRoofline(d) ? c : c.withBytesPerStream(host.bytesPerStream());
    }

    /** One pass of a device's probes; a failure becomes a FAILED row and null. */
    private static ProbeSet runDeviceProbes(Device d, DeviceProbes.Config config, String pass,
            List<CaseResult> failures, PrintStream out) {
        String label = BenchDevices.label(d);
        out.println("device probes (" + pass + ") on " + label + ": " + (config.bytesPerStream() >> 20)
                + " MiB streams" + (DeviceProbes.ownRoofline(d) ? "" : ", for comparison (the host probes stay "
                + "this device's roofline)"));
        try {
            ProbeSet set = DeviceProbes.measure(d, config);
            for (ProbeResult r : set.results()) {
                out.println("  " + r.probe() + " " + d.id() + " (" + r.threads() + " items): "
                        + Report.fmt(r.value(), 1) + " " + r.unit() + " best, " + Report.fmt(r.medianValue(), 1)
                        + " median of " + r.reps());
            }
            return set;
        } catch (RuntimeException | LinkageError e) {
            failures.add(CaseResult.failed("device probes (" + pass + ")", d.id(), label, null,
                    CaseTimer.describe(e)));
            out.println("  FAILED: " + CaseTimer.describe(e));
            return null;
        }
    }

    /** Filter on {@code op shape impl}; a case whose descriptors throw is kept, so its failure gets reported. */
    private static boolean matches(BenchCase c, Pattern filter) {
        try {
            return filter.matcher(c.op() + " " + c.shape() + " " + c.impl()).find();
        } catch (RuntimeException e) {
            return true;
        }
    }

    private static String progress(CaseResult r, ProbeSet probes, Map<String, ProbeSet> devices) {
        if (!r.ok()) {
            return r.label() + ": FAILED: " + r.error();
        }
        ProbeResult d = RooflineRule.denominator(r, probes, devices);
        String kernel = r.deviceSamples().length == 0 ? "" : ", kernel " + Report.time(r.deviceBestSeconds())
                + " best";
        return r.label() + ": " + Report.time(r.bestSeconds()) + " best, " + Report.time(r.medianSeconds())
                + " median" + kernel + ", " + Report.fmt(r.gbps(), 1) + " GB/s, " + Report.fmt(r.gflops(), 1)
                + " GFLOP/s, " + Report.fmt(RooflineRule.ratio(r, probes, devices), 2) + " of "
                + RooflineRule.describe(r, d) + " (start probes)";
    }

    private static ProbeSet runProbes(RooflineProbes.Config config, String pass, PrintStream out) {
        try (RooflineProbes probes = new RooflineProbes(config, WorkerPool.shared())) {
            out.println("probes (" + pass + "): 3 x " + (probes.elements() * Float.BYTES >> 20) + " MiB streams");
            ProbeSet set = probes.runAll();
            printProbes(set, out);
            return set;
        }
    }

    private static void printProbes(ProbeSet set, PrintStream out) {
        for (ProbeResult r : set.results()) {
            out.println("  " + r.probe() + " x" + r.threads() + ": " + Report.fmt(r.value(), 1) + " " + r.unit()
                    + " best, " + Report.fmt(r.medianValue(), 1) + " median of " + r.reps());
        }
    }
}
