package dev.gale.bench.report;

import dev.gale.bench.BenchCase;
import dev.gale.bench.Roofline;
import dev.gale.bench.probe.Stats;

/**
 * What the runner measured for one {@link BenchCase}.
 *
 * @param op {@link BenchCase#op()}
 * @param shape {@link BenchCase#shape()}
 * @param impl {@link BenchCase#impl()}
 * @param roofline the probe the case is compared with; null when the case failed before saying
 * @param bytes bytes of one run
 * @param flops flops of one run
 * @param samples seconds per run, one entry per timed sample (empty when the case failed)
 * @param timedRuns runs in all the samples together (warm-up not counted)
 * @param error null on success, else what went wrong (exception class and message)
 * @param pairKey {@link BenchCase#pairKey()}: the op and shape of the Vector API cases to compare with, or null
 * @param deviceSamples {@link BenchCase#deviceSeconds()}: profiled kernel seconds per run (empty for host cases)
 * @param probeDevice the id of the device whose own probes are the roofline (the case is then compared with them at
 *     its kernel time, {@link #deviceBestSeconds()}); null: the host probes, at the wall time
 */
public record CaseResult(String op, String shape, String impl, Roofline roofline, double bytes, double flops,
        double[] samples, long timedRuns, String error, String pairKey, double[] deviceSamples, String probeDevice) {
    public CaseResult {
        samples = samples.clone();
        deviceSamples = deviceSamples == null ? new double[0] : deviceSamples.clone();
    }

    /** A result judged by the host probes. */
    public CaseResult(String op, String shape, String impl, Roofline roofline, double bytes, double flops,
            double[] samples, long timedRuns, String error, String pairKey, double[] deviceSamples) {
        this(op, shape, impl, roofline, bytes, flops, samples, timedRuns, error, pairKey, deviceSamples, null);
    }

    /** A result without a pair key or device times (host cases). */
    public CaseResult(String op, String shape, String impl, Roofline roofline, double bytes, double flops,
            double[] samples, long timedRuns, String error) {
        this(op, shape, impl, roofline, bytes, flops, samples, timedRuns, error, null, new double[0]);
    }

    public static CaseResult failed(String op, String shape, String impl, Roofline roofline, String error) {
        return new CaseResult(op, shape, impl, roofline, Double.NaN, Double.NaN, new double[0], 0, error);
    }

    @Override
    public double[] samples() {
        return samples.clone();
    }

    @Override
    public double[] deviceSamples() {
        return deviceSamples.clone();
    }

    /** Fastest profiled kernel time per run; NaN for host cases. */
    public double deviceBestSeconds() {
        return deviceSamples.length == 0 ? Double.NaN : Stats.min(deviceSamples);
    }

    /** Median profiled kernel time per run; NaN for host cases. */
    public double deviceMedianSeconds() {
        return deviceSamples.length == 0 ? Double.NaN : Stats.median(deviceSamples);
    }

    /** The key Vector API cases are found by: {@code op shape}. */
    public String opShape() {
        return op + " " + shape;
    }

    public boolean ok() {
        return error == null;
    }

    /** The time the roofline ratio uses: the kernel time against a device's own probes, else the wall time. */
    public double ratioSeconds() {
        return probeDevice == null ? bestSeconds() : deviceBestSeconds();
    }

    /** Fastest sample, seconds per run. */
    public double bestSeconds() {
        return Stats.min(samples);
    }

    /** Median sample, seconds per run. */
    public double medianSeconds() {
        return Stats.median(samples);
    }

    /** GB/s at the best time; NaN where the case moves no bytes or failed. */
    public double gbps() {
        return rate(bytes, bestSeconds());
    }

    public double gbpsMedian() {
        return rate(bytes, medianSeconds());
    }

    /** GFLOP/s at the best time; NaN where the case does no flops or failed. */
    public double gflops() {
        return rate(flops, bestSeconds());
    }

    public double gflopsMedian() {
        return rate(flops, medianSeconds());
    }

    /** The label used in tables and charts. */
    public String label() {
        return op + " " + shape + " " + impl;
    }

    private static double rate(double work, double seconds) {
        return work > 0 && seconds > 0 ? work / seconds / 1e9 : Double.NaN;
    }
}
