package dev.gale.bench;

/**
 * The probe whose measurement (taken in the same run) is the denominator of an op's efficiency ratio: GB/s over the
 * probe's GB/s for the two bandwidth probes, GFLOP/s over the probe's GFLOP/s for {@link #FMA_PEAK}. The probes are in
 * {@code dev.gale.bench.probe.RooflineProbes}.
 */
public enum Roofline {
    /** Read-only streaming bandwidth: the roofline of a GEMV, which only reads weights. */
    READ_BW,
    /** STREAM-triad bandwidth, for ops that read and write comparable amounts. */
    TRIAD_BW,
    /** FMA peak: the roofline of compute-bound ops (GEMM, prefill attention). */
    FMA_PEAK
}
