package dev.gale.bench.report;

import dev.gale.bench.BenchCase;
import dev.gale.bench.Roofline;
import dev.gale.bench.probe.DeviceProbes;
import dev.gale.bench.probe.WarmUp;

/**
 * Times one {@link BenchCase}: {@code setup()}; a warm-up of at least {@link Timing#warmupNanos()} and
 * {@link Timing#minWarmupRuns()} runs that goes on until the run time stops improving ({@link WarmUp}, at most
 * {@value #WARMUP_LIMIT_FACTOR} times the minimum time); then {@link Timing#samples()} samples, each repeating {@code run()} until at
 * least {@link Timing#minSampleNanos()} have passed (one run at least) and recording elapsed / runs; then the case's
 * {@link BenchCase#deviceSeconds()} (profiled kernel times of device cases); {@code close()} always. Anything a
 * case throws (in its descriptors, setup, run or close) turns into a failed {@link CaseResult} with the message.
 */
public final class CaseTimer {
    /**
     * How long to warm up and to sample.
     *
     * @param warmupNanos minimum warm-up time
     * @param minWarmupRuns minimum warm-up runs (a slow op still gets its loops compiled)
     * @param samples timed samples
     * @param minSampleNanos minimum time of one sample; fast ops are repeated within a sample
     */
    public record Timing(long warmupNanos, int minWarmupRuns, int samples, long minSampleNanos) {
        public Timing {
            if (warmupNanos < 0 || minWarmupRuns < 0 || samples < 1 || minSampleNanos < 0) {
                throw new IllegalArgumentException("bad timing: " + this);
            }
        }

        /** 1 s and 5 runs of warm-up, 10 samples of at least 100 ms. */
        public static Timing standard() {
            return new Timing(1_000_000_000L, 5, 10, 100_000_000L);
        }

        /** 0.2 s and 2 runs of warm-up, 5 samples of at least 20 ms. */
        public static Timing quick() {
            return new Timing(200_000_000L, 2, 5, 20_000_000L);
        }
    }

    /** The warm-up waits at most this many times its minimum for run() to settle. */
    static final int WARMUP_LIMIT_FACTOR = 10;

    private CaseTimer() {
    }

    public static CaseResult measure(BenchCase c, Timing timing) {
        String op = "?";
        String shape = "?";
        String impl = "?";
        Roofline roofline = null;
        double bytes;
        double flops;
        String pairKey;
        String probeDevice;
        try {
            op = c.op();
            shape = c.shape();
            impl = c.impl();
            roofline = c.roofline();
            bytes = c.bytes();
            flops = c.flops();
            pairKey = c.pairKey();
            dev.gale.core.device.Device d = c.device();
            probeDevice = d != null && DeviceProbes.ownRoofline(d) ? d.id() : null;
            if (roofline == null) {
                throw new IllegalStateException("roofline() returned null");
            }
        } catch (Throwable t) {
            rethrowFatal(t);
            return CaseResult.failed(op, shape, impl, roofline, describe(t));
        }
        double[] samples = new double[timing.samples()];
        long timedRuns = 0;
        double[] device = new double[0];
        Throwable failure = null;
        try {
            c.setup();
            WarmUp.run(c::run, timing.warmupNanos(), timing.minWarmupRuns(),
                    WARMUP_LIMIT_FACTOR * Math.max(timing.warmupNanos(), 100_000_000L));
            for (int s = 0; s < samples.length; s++) {
                long t0 = System.nanoTime();
                long elapsed;
                long runs = 0;
                do {
                    c.run();
                    runs++;
                    elapsed = System.nanoTime() - t0;
                } while (elapsed < timing.minSampleNanos());
                samples[s] = elapsed * 1e-9 / runs;
                timedRuns += runs;
            }
            device = c.deviceSeconds();
        } catch (Throwable t) {
            rethrowFatal(t);
            failure = t;
        } finally {
            try {
                c.close(); // also after a failed setup, to free what it did allocate
            } catch (Throwable t) {
                rethrowFatal(t);
                if (failure == null) {
                    failure = t;
                } else {
                    failure.addSuppressed(t);
                }
            }
        }
        if (failure != null) {
            return CaseResult.failed(op, shape, impl, roofline, describe(failure));
        }
        return new CaseResult(op, shape, impl, roofline, bytes, flops, samples, timedRuns, null, pairKey, device,
                probeDevice);
    }

    /** {@code SimpleClassName: message}, with the first cause's message where the top one has none. */
    static String describe(Throwable t) {
        String msg = t.getMessage();
        Throwable cause = t.getCause();
        if ((msg == null || msg.isBlank()) && cause != null) {
            msg = cause.getClass().getSimpleName() + ": " + cause.getMessage();
        }
        return t.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
    }

    /** Errors that leave the JVM unusable are not a case's failure; out-of-memory is (the case asked too much). */
    private static void rethrowFatal(Throwable t) {
        if (t instanceof VirtualMachineError && !(t instanceof OutOfMemoryError)) {
            throw (VirtualMachineError) t;
        }
    }
}
