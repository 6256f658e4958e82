package dev.gale.bench.report;

import dev.gale.bench.BenchCase;
import dev.gale.bench.Roofline;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.ProbeSet;
import java.util.regex.Pattern;

/**
 * Which probe a case is divided by, and how.
 * <ul>
 * <li>Thread count: a case whose {@link BenchCase#impl()} contains the word {@code x1} (e.g. {@code vector-api x1};
 * not {@code x16}, not {@code avx1}) ran on one thread and is compared with the 1-thread probe. Every other case is
 * compared with the all-threads probe (every thread of {@code WorkerPool.shared()}).</li>
 * <li>Probe: {@link BenchCase#roofline()}.</li>
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

    /** The probe result that is {@code c}'s denominator; null for a case that failed before naming its roofline. */
    public static ProbeResult denominator(CaseResult c, ProbeSet probes) {
        return c.roofline() == null ? null : probes.get(c.roofline(), singleThread(c.impl()));
    }

    /** The case's throughput over its probe's; NaN where it failed or has no work of the probe's kind. */
    public static double ratio(CaseResult c, ProbeSet probes) {
        ProbeResult d = denominator(c, probes);
        if (!c.ok() || d == null) {
            return Double.NaN;
        }
        double mine = c.roofline() == Roofline.FMA_PEAK ? c.gflops() : c.gbps();
        return mine / d.value();
    }
}
