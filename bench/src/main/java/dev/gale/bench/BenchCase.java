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

    void setup();

    void run();

    @Override
    void close();
}
