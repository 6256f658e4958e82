package dev.gale.bench.report;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.ProbeSet;
import dev.gale.bench.probe.RooflineProbes;
import dev.gale.core.cpu.WorkerPool;
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
import java.util.List;
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
                   scripts/bench --jmh [JMH args]
              --quick         small case subset, 128 MiB probe streams, shorter warm-up and fewer samples
              --filter REGEX  run only cases whose "op shape impl" contains a match (probes always run)
              --out DIR       where the JSON, Markdown and PNG files go (default: bench-results/ at the repo root)
              --threads N     threads of the shared worker pool: the all-threads probes and every case use it
              --probe-mib N   MiB per probe stream (default 512; 128 with --quick)""";

    /** Parsed command line. */
    record Options(boolean quick, String filter, Path out, Integer threads, Long probeMib) {
        static Options parse(String[] args) {
            boolean quick = false;
            String filter = null;
            Path out = null;
            Integer threads = null;
            Long probeMib = null;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "--quick" -> quick = true;
                    case "--filter" -> filter = value(args, ++i, a);
                    case "--out" -> out = Path.of(value(args, ++i, a));
                    case "--threads" -> threads = positive(value(args, ++i, a), a);
                    case "--probe-mib" -> probeMib = (long) positive(value(args, ++i, a), a);
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
            return new Options(quick, filter, out == null ? defaultOut() : out, threads, probeMib);
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
        for (int i = 0; i < selected.size(); i++) {
            CaseResult r = CaseTimer.measure(selected.get(i), timing);
            results.add(r);
            out.println("[" + (i + 1) + "/" + selected.size() + "] " + progress(r, start));
        }
        List<Table> tables = tables(loaded, options.quick(), filter, results, out);
        out.println();
        ProbeSet end = runProbes(probeConfig, "end", out);

        Report report = new Report(timestamp, machine, options.quick(), options.filter(), timing, probeConfig, start,
                end, results, tables);
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

    /** Filter on {@code op shape impl}; a case whose descriptors throw is kept, so its failure gets reported. */
    private static boolean matches(BenchCase c, Pattern filter) {
        try {
            return filter.matcher(c.op() + " " + c.shape() + " " + c.impl()).find();
        } catch (RuntimeException e) {
            return true;
        }
    }

    private static String progress(CaseResult r, ProbeSet probes) {
        if (!r.ok()) {
            return r.label() + ": FAILED: " + r.error();
        }
        ProbeResult d = RooflineRule.denominator(r, probes);
        return r.label() + ": " + Report.time(r.bestSeconds()) + " best, " + Report.time(r.medianSeconds())
                + " median, " + Report.fmt(r.gbps(), 1) + " GB/s, " + Report.fmt(r.gflops(), 1) + " GFLOP/s, "
                + Report.fmt(RooflineRule.ratio(r, probes), 2) + " of " + d.probe() + " x" + d.threads()
                + " (start probes)";
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
