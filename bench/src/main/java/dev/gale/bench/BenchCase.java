package dev.gale.bench;

/**
 * One op at one shape, as the report runner (scripts/bench) times it. The runner calls {@link #setup()}, warms up
 * {@link #run()}, times it, then calls {@link #close()}. Setup allocates and fills inputs (synthetic data: speed does
 * not depend on weight values); run must do the whole op once and allocate nothing.
 */
public interface BenchCase extends AutoCloseable {
    /** Op family and variant, e.g. {@code gemv f32}. */
    String op();

    /** The shape and where it comes from, e.g. {@code 4096x14336 (Llama-3-8B ffn_up)}. */
    String shape();

    /**
     * Which implementation and how many threads, e.g. {@code vector-api x2}. The report compares a case whose impl
     * contains the word {@code x1} with the 1-thread probe, and every other case with the all-threads probe
     * ({@code dev.gale.bench.report.RooflineRule}).
     */
    String impl();

    /** Bytes read plus written by one run (weights, activations, outputs). */
    double bytes();

    /** Floating-point (or integer multiply-add) operations of one run, counting a multiply-add as 2. */
    double flops();

    /** Which probe this op should be compared with. */
    Roofline roofline();

    /**
     * Pairs this case with the Vector API cases of the same op and shape: when not null, the report compares this
     * case's time with every case in the same run whose {@code op() + " " + shape()} equals this key and whose impl
     * starts with {@code vector-api} (the "vs Vector API" table). Null (the default): no comparison.
     */
    default String pairKey() {
        return null;
    }

    /**
     * Kernel time per run as a device's profiler measured it, in seconds, one entry per recorded run (launch overhead
     * excluded, unlike the wall time the runner measures). Read after the timed samples, before {@link #close()}.
     * Empty (the default) for cases that launch nothing.
     */
    default double[] deviceSeconds() {
        return new double[0];
    }

    /**
     * The device whose kernel runner this case launches on; null (the default) for host cases. The report runner
     * uses it to pick the roofline: on a device with its own roofline
     * ({@link dev.gale.bench.probe.DeviceProbes#ownRoofline}) it measures the device probes in the same run and
     * compares the case's kernel time ({@link #deviceSeconds()}) with them.
     */
    default dev.gale.core.device.Device device() {
        return null;
    }

    void setup();

    void run();

    @Override
    void close();
}
