package dev.gale.bench.w4ax;

import dev.gale.bench.quant.QuantBenchCases;
import dev.gale.bench.w4a4.W4AxBenchCases;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.W4Packed;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Locale;

/**
 * Why a decode GEMV does or does not scale over {@link WorkerPool#shared()}: per case, the wall time of the parallel
 * entry point, then the same split run through an instrumented body that records, per chunk, its thread, its start
 * after the call began, its wall time and its thread CPU time; and each half run alone on the calling thread. A
 * development probe, run by hand (medians of {@code reps} calls, best of rounds):
 * {@code java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.gale.bench.w4ax.W4GemvScaling
 * [rows in reps]}.
 */
public final class W4GemvScaling {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    private W4GemvScaling() {
    }

    /** A row-range GEMV on the calling thread. */
    private interface Rows {
        void run(int rowStart, int rowEnd);
    }

    public static void main(String[] args) {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 14336;
        int in = args.length > 1 ? Integer.parseInt(args[1]) : 4096;
        int reps = args.length > 2 ? Integer.parseInt(args[2]) : 60;
        WorkerPool pool = WorkerPool.shared();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, 1, in);
            MemorySegment y = arena.allocate(4L * rows, 64);
            W4Packed p = W4Packed.pack(W4AxBenchCases.syntheticW4(arena, rows, in), arena);
            ActivationQuant a4 = ActivationQuant.allocate(1, in, ActivationQuant.uniform(in, false), arena);
            ActivationQuant a8 = ActivationQuant.allocate(1, in, ActivationQuant.uniform(in, true), arena);
            Q4_0Packed q4 = Q4_0Packed.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q4_0, rows,
                    in), 0, rows, in, arena);
            String[] names = {"q4_0 f32", "w4a4", "w4a8"};
            Runnable[] parallel = {
                () -> q4.matmulF32Parallel(x, 0, 1, y, 0),
                () -> {
                    a4.quantize(x, 0, 1);
                    p.gemvParallel(a4, y, 0);
                },
                () -> {
                    a8.quantize(x, 0, 1);
                    p.gemvParallel(a8, y, 0);
                }
            };
            Runnable[] prepare = {() -> { }, () -> a4.quantize(x, 0, 1), () -> a8.quantize(x, 0, 1)};
            Rows[] ranges = {
                (s, e) -> q4.matmulF32(x, 0, 1, y, 0, s, e),
                (s, e) -> p.gemv(a4, y, 0, s, e),
                (s, e) -> p.gemv(a8, y, 0, s, e)
            };
            int groups = (rows + 3) / 4;
            int half = 4 * ((groups + 1) / 2);
            int rounds = Integer.getInteger("rounds", 3);
            if (Boolean.getBoolean("interleaved")) {
                interleaved(names, parallel, ranges, rows, reps);
                return;
            }
            for (int round = 0; round < rounds; round++) {
                System.out.printf(Locale.ROOT, "round %d, %dx%d, %d threads, load %.2f%n", round, rows, in,
                        pool.threads(), ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
                for (int c = 0; c < names.length; c++) {
                    double wall = median(reps, parallel[c]);
                    Runnable prep = prepare[c];
                    Rows body = ranges[c];
                    double[] alone0 = times(reps, () -> {
                        prep.run();
                        body.run(0, half);
                    });
                    double[] alone1 = times(reps, () -> {
                        prep.run();
                        body.run(half, rows);
                    });
                    double prepOnly = median(reps, prep);
                    Chunks ch = new Chunks();
                    for (int i = 0; i < reps; i++) {
                        long t0 = System.nanoTime();
                        prep.run();
                        long tPrep = System.nanoTime();
                        pool.parallelFor(groups, 1, (s, e) -> ch.record(t0, () -> body.run(4 * s,
                                Math.min(rows, 4 * e)), s == 0));
                        ch.end(t0, tPrep, System.nanoTime());
                    }
                    System.out.printf(Locale.ROOT, "  %-8s parallel %.3f ms | alone (wall/cpu): first half %.3f/%.3f,"
                            + " second %.3f/%.3f, prep %.3f | %s%n", names[c], wall, alone0[0], alone0[1], alone1[0],
                            alone1[1], prepOnly, ch.summary());
                }
            }
        }
    }

    /**
     * Rounds of one call per case, back to back, rotating which goes first, so every case sees the same load: per
     * case the median wall time of the parallel call and of the one-thread full range (and its CPU time), and the
     * median per-round ratio against case 0.
     */
    private static void interleaved(String[] names, Runnable[] parallel, Rows[] ranges, int rows, int reps) {
        int n = names.length;
        Runnable[] single = new Runnable[n];
        for (int c = 0; c < n; c++) {
            Rows r = ranges[c];
            single[c] = () -> r.run(0, rows);
        }
        for (int warm = 0; warm < 20; warm++) {
            for (int c = 0; c < n; c++) {
                parallel[c].run();
                single[c].run();
            }
        }
        double[][] wallP = new double[n][reps];
        double[][] wall1 = new double[n][reps];
        double[][] cpu1 = new double[n][reps];
        for (int r = 0; r < reps; r++) {
            for (int k = 0; k < n; k++) {
                int c = (k + r) % n;
                long t0 = System.nanoTime();
                parallel[c].run();
                wallP[c][r] = (System.nanoTime() - t0) / 1e6;
            }
            for (int k = 0; k < n; k++) {
                int c = (k + r) % n;
                long c0 = MX.getCurrentThreadCpuTime();
                long t0 = System.nanoTime();
                single[c].run();
                wall1[c][r] = (System.nanoTime() - t0) / 1e6;
                cpu1[c][r] = (MX.getCurrentThreadCpuTime() - c0) / 1e6;
            }
        }
        System.out.printf(Locale.ROOT, "interleaved, %d rounds, %d rows, load %.2f%n", reps, rows,
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        for (int c = 0; c < n; c++) {
            double[] rp = new double[reps];
            double[] r1 = new double[reps];
            double[] rc = new double[reps];
            for (int r = 0; r < reps; r++) {
                rp[r] = wallP[0][r] / wallP[c][r];
                r1[r] = wall1[0][r] / wall1[c][r];
                rc[r] = cpu1[0][r] / cpu1[c][r];
            }
            System.out.printf(Locale.ROOT, "  %-8s %d threads: median %.3f ms (speed vs %s %.3f) | 1 thread: median "
                    + "%.3f ms wall (speed %.3f), %.3f ms CPU (speed %.3f, p10 %.3f, p90 %.3f)%n", names[c],
                    WorkerPool.shared().threads(), med(wallP[c]), names[0], med(rp), med(wall1[c]), med(r1),
                    med(cpu1[c]), med(rc), pct(rc, 0.1), pct(rc, 0.9));
        }
    }

    private static double pct(double[] v, double p) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[(int) (p * (c.length - 1))];
    }

    private static double med(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    /** Median wall ms of {@code reps} runs after a warm-up. */
    private static double median(int reps, Runnable r) {
        return times(reps, r)[0];
    }

    /** Median wall and median calling-thread CPU ms of {@code reps} runs after a warm-up. */
    private static double[] times(int reps, Runnable r) {
        for (int i = 0; i < Math.max(10, reps / 4); i++) {
            r.run();
        }
        double[] t = new double[reps];
        double[] c = new double[reps];
        for (int i = 0; i < reps; i++) {
            long c0 = MX.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            r.run();
            t[i] = (System.nanoTime() - t0) / 1e6;
            c[i] = (MX.getCurrentThreadCpuTime() - c0) / 1e6;
        }
        Arrays.sort(t);
        Arrays.sort(c);
        return new double[] {t[reps / 2], c[reps / 2]};
    }

    /** Per-chunk records of the instrumented split: chunk 0 (the first half) and chunk 1, medians over calls. */
    private static final class Chunks {
        private final double[][] start = new double[2][4096];
        private final double[][] wallMs = new double[2][4096];
        private final double[][] cpuMs = new double[2][4096];
        private final int[][] onCaller = new int[2][1];
        private final Thread[] ranBy = new Thread[2];
        private int serial;
        private final double[] prep = new double[4096];
        private final double[] total = new double[4096];
        private final int[] n = new int[2];
        private int calls;
        private final Thread caller = Thread.currentThread();

        void record(long t0, Runnable body, boolean first) {
            int k = first ? 0 : 1;
            long s = System.nanoTime();
            long c = MX.getCurrentThreadCpuTime();
            body.run();
            long c1 = MX.getCurrentThreadCpuTime();
            long e = System.nanoTime();
            synchronized (this) {
                int i = n[k]++;
                start[k][i] = (s - t0) / 1e6;
                wallMs[k][i] = (e - s) / 1e6;
                cpuMs[k][i] = (c1 - c) / 1e6;
                if (Thread.currentThread() == caller) {
                    onCaller[k][0]++;
                }
                ranBy[k] = Thread.currentThread();
            }
        }

        void end(long t0, long tPrep, long t1) {
            if (ranBy[0] == ranBy[1]) {
                serial++;
            }
            prep[calls] = (tPrep - t0) / 1e6;
            total[calls++] = (t1 - t0) / 1e6;
        }

        String summary() {
            StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "instrumented total %.3f (prep %.3f), "
                    + "both chunks on one thread in %d/%d calls", med(total, calls), med(prep, calls), serial, calls));
            for (int k = 0; k < 2; k++) {
                b.append(String.format(Locale.ROOT, "; chunk %d start %.3f wall %.3f cpu %.3f on caller %d/%d", k,
                        med(start[k], n[k]), med(wallMs[k], n[k]), med(cpuMs[k], n[k]), onCaller[k][0], n[k]));
            }
            return b.toString();
        }

        private static double med(double[] v, int count) {
            double[] c = Arrays.copyOf(v, count);
            Arrays.sort(c);
            return count == 0 ? Double.NaN : c[count / 2];
        }
    }
}
