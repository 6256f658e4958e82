package dev.gale.bench.report;

import dev.gale.bench.Roofline;
import dev.gale.bench.probe.DeviceProbeRun;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.ProbeSet;
import dev.gale.bench.probe.RooflineProbes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Everything one run measured, and its Markdown and JSON forms.
 *
 * @param timestamp when the run started (ISO-8601)
 * @param machine where it ran
 * @param quick whether {@code --quick} was given
 * @param filter the {@code --filter} regex, or null
 * @param timing how cases were timed
 * @param probeConfig how the probes were run
 * @param start probes at the start of the run
 * @param end probes at the end of the run
 * @param cases every case, in the order run, failures included
 * @param tables providers' extra tables ({@link dev.gale.bench.BenchCaseProvider#tables}), e.g. build times
 * @param deviceProbes the device probes of this run, one entry per device probed
 */
public record Report(String timestamp, Machine machine, boolean quick, String filter, CaseTimer.Timing timing,
        RooflineProbes.Config probeConfig, ProbeSet start, ProbeSet end, List<CaseResult> cases, List<Table> tables,
        List<DeviceProbeRun> deviceProbes) {

    /** How the numbers are made; printed under the tables and stored in the JSON. */
    public static final List<String> RULES = List.of(
            "Probes run twice, at the start and at the end of the run; each is a warm-up (a minimum time, then "
                    + "until pass times stop improving and the JIT is quiet) then the best of N repetitions. "
                    + "The denominator is, per probe and thread count, the higher of the two passes "
                    + "(interference from other tenants only lowers a probe).",
            "A case is set up, warmed up (minimum time and runs, then until run times stop improving and the JIT "
                    + "is quiet, capped at 10x the minimum time), then timed in samples; each sample repeats run() "
                    + "for a minimum time and records time per run. Time is reported as best and median sample.",
            "GB/s = bytes() / best time; GFLOP/s = flops() / best time. The best time is used because the probes "
                    + "are best-of-N too, so the ratio compares like with like; the median shows the spread.",
            "Ratio: READ_BW and TRIAD_BW cases divide their GB/s by the probe's GB/s, FMA_PEAK cases their "
                    + "GFLOP/s by the probe's GFLOP/s.",
            "Thread rule: a case whose impl() contains the word 'x1' is compared with the 1-thread probe; every "
                    + "other case with the all-threads probe (all threads of WorkerPool.shared()).",
            "Device rule: a case on a GPU, or on a device with its own memory, is compared with that device's own "
                    + "probes (DeviceProbeKernels through its kernel runner, device-timed, both passes) at its best "
                    + "kernel time; a CPU device on host memory (PoCL) with the host probes at its wall time.");

    /** How the "vs Vector API" table is made. */
    public static final String PAIR_RULE = "vs Vector API: each case with a pair key (the device cases) against every "
            + "vector-api case of the same op and shape in this run; time ratio = device best / vector-api best "
            + "(below 1: the device is faster). Device time is wall time of launch + wait (launch overhead "
            + "included); kernel time is what the device's kernel runner returns (OpenCL profiling events, CUDA "
            + "events; the launch's host wall time where a backend measures none), best and median over the "
            + "recorded runs.";

    public Report {
        cases = List.copyOf(cases);
        tables = List.copyOf(tables);
        deviceProbes = List.copyOf(deviceProbes);
    }

    /** A report without device probes. */
    public Report(String timestamp, Machine machine, boolean quick, String filter, CaseTimer.Timing timing,
            RooflineProbes.Config probeConfig, ProbeSet start, ProbeSet end, List<CaseResult> cases,
            List<Table> tables) {
        this(timestamp, machine, quick, filter, timing, probeConfig, start, end, cases, tables, List.of());
    }

    /** A report without extra tables. */
    public Report(String timestamp, Machine machine, boolean quick, String filter, CaseTimer.Timing timing,
            RooflineProbes.Config probeConfig, ProbeSet start, ProbeSet end, List<CaseResult> cases) {
        this(timestamp, machine, quick, filter, timing, probeConfig, start, end, cases, List.of(), List.of());
    }

    /** A paired case and one Vector API case of the same op and shape. */
    public record Pair(CaseResult device, CaseResult vector) {
        /** Device best time over Vector API best time. */
        public double timeRatio() {
            return device.bestSeconds() / vector.bestSeconds();
        }
    }

    /** Every successful case with a pair key, with each successful vector-api case of that op and shape. */
    public List<Pair> pairs() {
        List<Pair> out = new ArrayList<>();
        for (CaseResult d : cases) {
            if (d.pairKey() == null || !d.ok()) {
                continue;
            }
            for (CaseResult v : cases) {
                if (v != d && v.ok() && v.impl() != null && v.impl().contains("vector-api")
                        && d.pairKey().equals(v.opShape())) {
                    out.add(new Pair(d, v));
                }
            }
        }
        return out;
    }

    /** The "vs Vector API" table; empty when no case has a pair key. */
    public String pairTable() {
        if (cases.stream().noneMatch(c -> c.pairKey() != null)) {
            return "";
        }
        StringBuilder b = new StringBuilder();
        b.append("## Device vs Vector API (same op and shape, same run)\n\n");
        List<Pair> pairs = pairs();
        if (pairs.isEmpty()) {
            b.append("No device case had a Vector API case of the same op and shape in this run (check --filter).\n");
            return b.toString();
        }
        b.append("| op | shape | device impl | device time (best) | kernel time (best / median) | vector-api impl "
                + "| vector-api time (best) | time ratio device/vector-api |\n");
        b.append("|---|---|---|---|---|---|---|---|\n");
        for (Pair p : pairs) {
            CaseResult d = p.device();
            b.append("| ").append(cell(d.op())).append(" | ").append(cell(d.shape())).append(" | ")
                    .append(cell(d.impl())).append(" | ").append(time(d.bestSeconds())).append(" | ")
                    .append(time(d.deviceBestSeconds())).append(" / ").append(time(d.deviceMedianSeconds()))
                    .append(" | ").append(cell(p.vector().impl())).append(" | ").append(time(p.vector().bestSeconds()))
                    .append(" | ").append(fmt(p.timeRatio(), 2)).append(" |\n");
        }
        b.append("\n- ").append(PAIR_RULE).append('\n');
        return b.toString();
    }

    /** The extra tables, one after another. */
    public String extraTables() {
        StringBuilder b = new StringBuilder();
        for (Table t : tables) {
            b.append(t.markdown()).append('\n');
        }
        return b.toString();
    }

    /** The probe values the ratios divide by. */
    public ProbeSet used() {
        return ProbeSet.best(start, end);
    }

    /** The device probe values the device cases divide by, by device id (devices whose probes ran). */
    public Map<String, ProbeSet> usedDevices() {
        Map<String, ProbeSet> out = new LinkedHashMap<>();
        for (DeviceProbeRun r : deviceProbes) {
            if (r.used() != null) {
                out.put(r.device(), r.used());
            }
        }
        return out;
    }

    public long failures() {
        return cases.stream().filter(c -> !c.ok()).count();
    }

    /** The run as Markdown: machine, probe table, case table, rules. */
    public String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("# Gale bench report ").append(timestamp).append("\n\n");
        for (String line : machine.describe().split("\n")) {
            b.append("- ").append(line).append('\n');
        }
        b.append("- mode: ").append(quick ? "quick" : "standard");
        if (filter != null) {
            b.append(", filter `").append(filter).append('`');
        }
        b.append("\n\n");
        b.append(probeTable());
        b.append('\n');
        b.append(caseTable());
        b.append('\n');
        for (String rule : RULES) {
            b.append("- ").append(rule).append('\n');
        }
        String pairs = pairTable();
        if (!pairs.isEmpty()) {
            b.append('\n').append(pairs);
        }
        if (!tables.isEmpty()) {
            b.append('\n').append(extraTables());
        }
        return b.toString();
    }

    /** Probe table: start, end, and the value used as denominator. */
    public String probeTable() {
        StringBuilder b = new StringBuilder();
        b.append("## Roofline probes (").append(mib(start.bytesPerStream())).append(" per stream, best of ")
                .append(probeConfig.reps()).append(")\n\n");
        b.append("| probe | threads | start | end | used | unit |\n");
        b.append("|---|---|---|---|---|---|\n");
        ProbeSet used = used();
        for (ProbeResult s : start.results()) {
            boolean single = s.threads() == 1;
            ProbeResult e = end.get(s.roofline(), single);
            b.append("| ").append(s.probe()).append(" (").append(s.roofline()).append(") | ").append(s.threads())
                    .append(" | ").append(fmt(s.value(), 1)).append(" | ").append(fmt(e.value(), 1)).append(" | ")
                    .append(fmt(used.get(s.roofline(), single).value(), 1)).append(" | ").append(s.unit())
                    .append(" |\n");
        }
        for (DeviceProbeRun r : deviceProbes) {
            ProbeSet u = r.used();
            if (u == null) {
                continue;
            }
            for (ProbeResult p : u.results()) {
                b.append("| ").append(p.probe()).append(" (").append(p.roofline()).append(") on ")
                        .append(cell(r.label())).append(" | ").append(p.threads()).append(" items | ")
                        .append(value(r.start(), p)).append(" | ").append(value(r.end(), p)).append(" | ")
                        .append(fmt(p.value(), 1)).append(" | ").append(p.unit()).append(" |\n");
            }
        }
        for (DeviceProbeRun r : deviceProbes) {
            b.append("\n- ").append(cell(r.label())).append(": DeviceProbeKernels through the device's kernel runner, ")
                    .append(mib(r.used() == null ? 0 : r.used().bytesPerStream())).append(" per stream, device time; ")
                    .append(r.used() == null ? "FAILED in both passes (see the case table)"
                            : r.roofline() ? "the roofline of this device's cases (at their kernel times)"
                            : "for comparison only: this device's cases keep the host probes as their roofline");
        }
        if (!deviceProbes.isEmpty()) {
            b.append('\n');
        }
        return b.toString();
    }

    private static String value(ProbeSet set, ProbeResult p) {
        return set == null ? "—" : fmt(set.get(p.roofline(), false).value(), 1);
    }

    /** Case table: op | shape | impl | time (best) | time (median) | GB/s | GFLOP/s | roofline | ratio. */
    public String caseTable() {
        StringBuilder b = new StringBuilder();
        b.append("## Report cases\n\n");
        if (cases.isEmpty()) {
            b.append("No report cases ran: no BenchCaseProvider on the class path")
                    .append(filter == null ? "" : " had a case matching the filter").append(".\n");
            return b.toString();
        }
        b.append("| op | shape | impl | time (best) | time (median) | GB/s | GFLOP/s | roofline | ratio |\n");
        b.append("|---|---|---|---|---|---|---|---|---|\n");
        ProbeSet used = used();
        Map<String, ProbeSet> devices = usedDevices();
        for (CaseResult c : cases) {
            ProbeResult d = RooflineRule.denominator(c, used, devices);
            String roof = RooflineRule.describe(c, d);
            b.append("| ").append(cell(c.op())).append(" | ").append(cell(c.shape())).append(" | ")
                    .append(cell(c.impl())).append(" | ");
            if (c.ok()) {
                b.append(time(c.bestSeconds())).append(" | ").append(time(c.medianSeconds())).append(" | ")
                        .append(fmt(c.gbps(), 1)).append(" | ").append(fmt(c.gflops(), 1)).append(" | ")
                        .append(roof).append(" | ").append(fmt(RooflineRule.ratio(c, used, devices), 2)).append(" |\n");
            } else {
                b.append("FAILED: ").append(cell(c.error())).append(" | | | | ").append(roof).append(" | |\n");
            }
        }
        return b.toString();
    }

    /** The run as a JSON tree (see {@link Json}). */
    public String json() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("timestamp", timestamp);
        root.put("machine", machine.toJson());
        Map<String, Object> opts = new LinkedHashMap<>();
        opts.put("quick", quick);
        opts.put("filter", filter);
        opts.put("warmup_s", timing.warmupNanos() * 1e-9);
        opts.put("min_warmup_runs", timing.minWarmupRuns());
        opts.put("samples", timing.samples());
        opts.put("min_sample_s", timing.minSampleNanos() * 1e-9);
        opts.put("probe_bytes_per_stream", probeConfig.bytesPerStream());
        opts.put("probe_reps", probeConfig.reps());
        opts.put("probe_warmup_s", probeConfig.warmupNanos() * 1e-9);
        opts.put("probe_fma_iterations", probeConfig.fmaIterations());
        root.put("options", opts);
        root.put("rules", RULES);
        Map<String, Object> probes = new LinkedHashMap<>();
        probes.put("start", probesJson(start));
        probes.put("end", probesJson(end));
        probes.put("used", probesJson(used()));
        root.put("probes", probes);
        if (!deviceProbes.isEmpty()) {
            List<Object> ds = new ArrayList<>();
            for (DeviceProbeRun r : deviceProbes) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("device", r.device());
                m.put("label", r.label());
                m.put("roofline", r.roofline());
                m.put("start", r.start() == null ? null : probesJson(r.start()));
                m.put("end", r.end() == null ? null : probesJson(r.end()));
                m.put("used", r.used() == null ? null : probesJson(r.used()));
                ds.add(m);
            }
            root.put("device_probes", ds);
        }
        List<Object> cs = new ArrayList<>();
        ProbeSet used = used();
        Map<String, ProbeSet> devices = usedDevices();
        for (CaseResult c : cases) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("op", c.op());
            m.put("shape", c.shape());
            m.put("impl", c.impl());
            m.put("status", c.ok() ? "OK" : "FAILED");
            m.put("error", c.error());
            m.put("roofline", c.roofline() == null ? null : c.roofline().name());
            ProbeResult d = RooflineRule.denominator(c, used, devices);
            m.put("roofline_device", c.probeDevice());
            m.put("roofline_threads", d == null ? null : d.threads());
            m.put("roofline_value", d == null ? null : d.value());
            m.put("roofline_unit", c.roofline() == null ? null : ProbeResult.unitOf(c.roofline()));
            m.put("bytes", c.bytes());
            m.put("flops", c.flops());
            m.put("time_best_s", c.bestSeconds());
            m.put("time_median_s", c.medianSeconds());
            m.put("gbps", c.gbps());
            m.put("gbps_median", c.gbpsMedian());
            m.put("gflops", c.gflops());
            m.put("gflops_median", c.gflopsMedian());
            m.put("ratio", RooflineRule.ratio(c, used, devices));
            m.put("timed_runs", c.timedRuns());
            m.put("samples_s", c.samples());
            if (c.pairKey() != null || c.deviceSamples().length > 0) {
                m.put("pair_key", c.pairKey());
                m.put("kernel_time_best_s", c.deviceBestSeconds());
                m.put("kernel_time_median_s", c.deviceMedianSeconds());
            }
            cs.add(m);
        }
        root.put("cases", cs);
        List<Object> ps = new ArrayList<>();
        for (Pair p : pairs()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("op", p.device().op());
            m.put("shape", p.device().shape());
            m.put("device_impl", p.device().impl());
            m.put("device_time_best_s", p.device().bestSeconds());
            m.put("kernel_time_best_s", p.device().deviceBestSeconds());
            m.put("kernel_time_median_s", p.device().deviceMedianSeconds());
            m.put("vector_impl", p.vector().impl());
            m.put("vector_time_best_s", p.vector().bestSeconds());
            m.put("time_ratio_device_over_vector", p.timeRatio());
            ps.add(m);
        }
        if (!ps.isEmpty()) {
            root.put("vs_vector_api", ps);
            root.put("vs_vector_api_rule", PAIR_RULE);
        }
        if (!tables.isEmpty()) {
            List<Object> ts = new ArrayList<>();
            for (Table t : tables) {
                ts.add(t.toJson());
            }
            root.put("tables", ts);
        }
        return Json.write(root);
    }

    private static List<Object> probesJson(ProbeSet set) {
        List<Object> out = new ArrayList<>();
        for (ProbeResult r : set.results()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("probe", r.probe());
            m.put("roofline", r.roofline().name());
            m.put("threads", r.threads());
            m.put("value", r.value());
            m.put("median_value", r.medianValue());
            m.put("unit", r.unit());
            m.put("best_s", r.bestSeconds());
            m.put("median_s", r.medianSeconds());
            m.put("reps", r.reps());
            m.put(r.roofline() == Roofline.FMA_PEAK ? "flops_per_rep" : "bytes_per_rep", r.workPerRep());
            out.add(m);
        }
        return out;
    }

    public static String fmt(double v, int decimals) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%." + decimals + "f", v) : "—";
    }

    /** Seconds with 3 significant digits in ns, µs, ms or s. */
    public static String time(double s) {
        if (!Double.isFinite(s)) {
            return "—";
        }
        double[] scale = {1, 1e-3, 1e-6, 1e-9};
        String[] unit = {"s", "ms", "µs", "ns"};
        int i = 0;
        while (i < scale.length - 1 && s < scale[i]) {
            i++;
        }
        double v = s / scale[i];
        int decimals = v >= 100 ? 0 : v >= 10 ? 1 : 2;
        return String.format(Locale.ROOT, "%." + decimals + "f %s", v, unit[i]);
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.0f MiB", bytes / 1048576.0);
    }

    /** A Markdown table cell: no pipes or line breaks. */
    static String cell(String s) {
        return s == null ? "" : s.replace("|", "\\|").replace("\r", " ").replace("\n", " ");
    }
}
