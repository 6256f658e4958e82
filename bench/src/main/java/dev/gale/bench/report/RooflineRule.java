package dev.gale.bench.report;

import dev.gale.bench.BenchCase;
import dev.gale.bench.Roofline;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.ProbeSet;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Which probe a case is divided by, and how.
 * <ul>
 * <li>Thread count: a case whose {@link BenchCase#impl()} contains the word {@code x1} (e.g. {@code vector-api x1};
 * not {@code x16}, not {@code avx1}) ran on one thread and is compared with the 1-thread probe. Every other case is
 * compared with the all-threads probe (every thread of {@code WorkerPool.shared()}).</li>
 * <li>Probe: {@link BenchCase#roofline()}.</li>
 * <li>Device: a case on a device with its own roofline ({@link CaseResult#probeDevice()}: a GPU, or a device with its
 * own memory) is compared with that device's probes ({@link dev.gale.bench.probe.DeviceProbes}) instead, at its best
 * kernel time, since the probes are device-timed too; the thread rule does not apply to it.</li>
 * <li>Ratio: for {@link Roofline#READ_BW} and {@link Roofline#TRIAD_BW}, the case's GB/s over the probe's GB/s; for
 * {@link Roofline#FMA_PEAK}, the case's GFLOP/s over the probe's GFLOP/s. Both at the best time of each.</li>
 * </ul>
 */
public final class RooflineRule {
    private static final Pattern SINGLE_THREAD = Pattern.compile("(?<![A-Za-z0-9])x1(?![0-9])");

    private RooflineRule() {
    }

    /** Whether {@code impl} names a single-threaded run. */
    public static boolean singleThread(String impl) {
        return impl != null && SINGLE_THREAD.matcher(impl).find();
    }

    /** {@link #denominator(CaseResult, ProbeSet, Map)} without device probes. */
    public static ProbeResult denominator(CaseResult c, ProbeSet probes) {
        return denominator(c, probes, Map.of());
    }

    /**
     * The probe result that is {@code c}'s denominator: from {@code devices} (probe sets by device id) for a case with
     * a probe device, else from the host {@code probes}; null for a case that failed before naming its roofline, or
     * whose device has no probes in this run.
     */
    public static ProbeResult denominator(CaseResult c, ProbeSet probes, Map<String, ProbeSet> devices) {
        if (c.roofline() == null) {
            return null;
        }
        if (c.probeDevice() != null) {
            ProbeSet own = devices.get(c.probeDevice());
            return own == null ? null : own.get(c.roofline(), false);
        }
        return probes.get(c.roofline(), singleThread(c.impl()));
    }

    /** {@link #ratio(CaseResult, ProbeSet, Map)} without device probes. */
    public static double ratio(CaseResult c, ProbeSet probes) {
        return ratio(c, probes, Map.of());
    }

    /**
     * The case's throughput over its probe's, at {@link CaseResult#ratioSeconds()}; NaN where it failed, has no work of
     * the probe's kind, or has no probe.
     */
    public static double ratio(CaseResult c, ProbeSet probes, Map<String, ProbeSet> devices) {
        ProbeResult d = denominator(c, probes, devices);
        if (!c.ok() || d == null) {
            return Double.NaN;
        }
        double work = c.roofline() == Roofline.FMA_PEAK ? c.flops() : c.bytes();
        double seconds = c.ratioSeconds();
        double mine = work > 0 && seconds > 0 ? work / seconds / 1e9 : Double.NaN;
        return mine / d.value();
    }

    /** How a table names the denominator: {@code read x2 20.5 GB/s}, or {@code read cuda:0 4012.0 GB/s (kernel time)}. */
    public static String describe(CaseResult c, ProbeResult d) {
        if (d == null) {
            return c.probeDevice() == null ? "?" : "no " + c.probeDevice() + " probe";
        }
        String v = Report.fmt(d.value(), 1) + " " + d.unit();
        return c.probeDevice() == null ? d.probe() + " x" + d.threads() + " " + v
                : d.probe() + " " + c.probeDevice() + " " + v + " (kernel time)";
    }
}
