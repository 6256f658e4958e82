package dev.gale.bench.report;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Locale;

/**
 * The one-thread probes' timing loop: cases timed in the calling thread's CPU time and interleaved round by round, so
 * that the noise of a shared 2-core machine (wall-clock runs of one case here swing 1.5–2×) falls on every case
 * alike. Each round runs each case untimed (once unless told), then {@code reps} timed runs, and prints their best;
 * the result is each case's best over all rounds.
 */
public final class CpuTimeRounds {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    private CpuTimeRounds() {
    }

    /** Best CPU milliseconds per case over {@code rounds} rounds; {@code flops} per run, for the GFLOP/s printed. */
    public static double[] run(String shape, String[] names, Runnable[] cases, int rounds, int reps, double flops) {
        return run(shape, names, cases, rounds, 1, reps, flops);
    }

    /**
     * {@link #run(String, String[], Runnable[], int, int, double)} with {@code warm} untimed runs per case and round;
     * {@code flops} 0 prints milliseconds alone.
     */
    public static double[] run(String shape, String[] names, Runnable[] cases, int rounds, int warm, int reps,
            double flops) {
        double[] min = new double[cases.length];
        Arrays.fill(min, Double.MAX_VALUE);
        for (int round = 0; round < rounds; round++) {
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "round %d %s best CPU ms:", round,
                    shape));
            for (int c = 0; c < cases.length; c++) {
                for (int i = 0; i < warm; i++) {
                    cases[c].run();
                }
                long best = Long.MAX_VALUE;
                for (int i = 0; i < reps; i++) {
                    long t0 = MX.getCurrentThreadCpuTime();
                    cases[c].run();
                    best = Math.min(best, MX.getCurrentThreadCpuTime() - t0);
                }
                min[c] = Math.min(min[c], best / 1e6);
                line.append(flops > 0 ? String.format(Locale.ROOT, " %s %.2f (%.1f GFLOP/s);", names[c], best / 1e6,
                        flops / best) : String.format(Locale.ROOT, " %s %.4f;", names[c], best / 1e6));
            }
            System.out.println(line);
        }
        return min;
    }
}
