package dev.gale.bench.probe;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.function.LongSupplier;

/**
 * Warm-up that waits for the JIT rather than for the clock alone. A Vector API loop runs tens of times slower before
 * C2 has compiled it, and on a loaded machine C2's queue can lag by a second or more, so a fixed warm-up time can end
 * with the interpreted or C1 code still running. This one calls the body until a minimum time and call count have
 * passed <em>and</em> the fastest call has stopped improving: {@value #STABLE_CALLS} calls in a row without beating
 * the best by more than {@value #IMPROVEMENT_PERCENT}%, during which the JIT finished no compilation (the JVM's total
 * compilation time did not move, where the JVM reports it). It gives up waiting at a maximum time.
 */
public final class WarmUp {
    /** Calls in a row without a real improvement that count as steady. */
    public static final int STABLE_CALLS = 3;
    /** How much faster than the best so far a call must be to count as an improvement. */
    public static final int IMPROVEMENT_PERCENT = 5;

    private static final CompilationMXBean JIT = ManagementFactory.getCompilationMXBean();
    private static final boolean JIT_TIME = JIT != null && JIT.isCompilationTimeMonitoringSupported();

    private WarmUp() {
    }

    /** Total JIT time so far in ms; a change means a compilation finished. 0 where not reported. */
    static long jitMillis() {
        return JIT_TIME ? JIT.getTotalCompilationTime() : 0;
    }

    /**
     * Runs {@code body} until steady (see the class comment).
     *
     * @param minNanos minimum warm-up time
     * @param minCalls minimum calls
     * @param maxNanos stop waiting for steadiness after this long (the minimums still apply)
     * @return the number of calls made
     */
    public static long run(Runnable body, long minNanos, long minCalls, long maxNanos) {
        return run(body, minNanos, minCalls, maxNanos, System::nanoTime, WarmUp::jitMillis);
    }

    /** {@link #run(Runnable, long, long, long)} with the clock and the JIT counter given, for tests. */
    static long run(Runnable body, long minNanos, long minCalls, long maxNanos, LongSupplier clock,
            LongSupplier jitCounter) {
        long start = clock.getAsLong();
        long best = Long.MAX_VALUE;
        int sinceImprovement = 0;
        long calls = 0;
        long jit = jitCounter.getAsLong();
        while (true) {
            long t0 = clock.getAsLong();
            body.run();
            long t1 = clock.getAsLong();
            long dt = t1 - t0;
            calls++;
            long jitNow = jitCounter.getAsLong();
            if (dt < best - best / 100 * IMPROVEMENT_PERCENT || jitNow != jit) {
                jit = jitNow;
                sinceImprovement = 0;
            } else {
                sinceImprovement++;
            }
            best = Math.min(best, dt);
            long elapsed = t1 - start;
            boolean minimumsMet = calls >= minCalls && elapsed >= minNanos;
            if (minimumsMet && (sinceImprovement >= STABLE_CALLS || elapsed >= maxNanos)) {
                return calls;
            }
        }
    }
}
