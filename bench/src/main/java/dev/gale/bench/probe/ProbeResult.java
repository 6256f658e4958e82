package dev.gale.bench.probe;

import dev.gale.bench.Roofline;

/**
 * One probe measurement.
 *
 * @param roofline which roofline this measures
 * @param threads threads that ran it (1, or every thread of the pool)
 * @param value best-of-N throughput: GB/s for the bandwidth probes, GFLOP/s for {@link Roofline#FMA_PEAK}
 * @param bestSeconds the fastest repetition
 * @param medianSeconds the median repetition
 * @param reps timed repetitions after warm-up
 * @param workPerRep bytes (bandwidth probes) or flops (FMA) of one repetition
 */
public record ProbeResult(Roofline roofline, int threads, double value, double bestSeconds, double medianSeconds,
        int reps, double workPerRep) {

    /** {@code GB/s} or {@code GFLOP/s}. */
    public String unit() {
        return unitOf(roofline);
    }

    /** Throughput of the median repetition, for the spread. */
    public double medianValue() {
        return workPerRep / medianSeconds / 1e9;
    }

    /** Short name: {@code read}, {@code triad} or {@code fma}. */
    public String probe() {
        return nameOf(roofline);
    }

    public static String unitOf(Roofline r) {
        return r == Roofline.FMA_PEAK ? "GFLOP/s" : "GB/s";
    }

    public static String nameOf(Roofline r) {
        return switch (r) {
            case READ_BW -> "read";
            case TRIAD_BW -> "triad";
            case FMA_PEAK -> "fma";
        };
    }
}
