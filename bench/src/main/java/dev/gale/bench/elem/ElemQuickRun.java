package dev.gale.bench.elem;

import dev.gale.bench.BenchCase;
import java.util.List;

/**
 * A quick in-process timing of every element-wise case (no JMH): time-based warm-up, then the best of several
 * timed batches. Prints time per run, achieved GB/s (compulsory bytes) and GFLOP/s. Timings from one run of this are
 * comparable with each other (same process, same machine state); nothing else is claimed. Arguments: {@code quick}
 * for the small subset, and an optional case-name filter.
 */
public final class ElemQuickRun {
    private ElemQuickRun() {
    }

    public static void main(String[] args) {
        boolean quick = args.length > 0 && args[0].equals("quick");
        String filter = args.length > 1 ? args[1] : "";
        List<BenchCase> cases = new ElemBenchCases().cases(quick);
        System.out.printf("%-14s %-52s %-18s %12s %9s %9s%n", "op", "shape", "impl", "us/run", "GB/s", "GFLOP/s");
        for (BenchCase c : cases) {
            if (!(c.op() + " " + c.shape() + " " + c.impl()).contains(filter)) {
                continue;
            }
            c.setup();
            try {
                double best = time(c);
                System.out.printf("%-14s %-52s %-18s %12.2f %9.2f %9.2f%n", c.op(), c.shape(), c.impl(), best * 1e6,
                        c.bytes() / best / 1e9, c.flops() / best / 1e9);
            } finally {
                c.close();
            }
        }
    }

    /**
     * Seconds per run: at least 2 s of warm-up (C2 must have compiled the vector loops: before that every vector is
     * boxed and a run is 10-100x slower; a kernel whose first calls are long may first get an OSR compilation that is
     * replaced later), then the best mean over 10 batches of at least 100 ms each.
     */
    static double time(BenchCase c) {
        long warmEnd = System.nanoTime() + 2_000_000_000L;
        long calls = 0;
        long t0 = System.nanoTime();
        while (System.nanoTime() < warmEnd) {
            c.run();
            calls++;
        }
        double perCall = (System.nanoTime() - t0) / 1e9 / calls;
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < 10; rep++) {
            int batch = (int) Math.max(1, Math.min(1_000_000, 0.1 / Math.min(perCall, best)));
            long start = System.nanoTime();
            for (int i = 0; i < batch; i++) {
                c.run();
            }
            best = Math.min(best, (System.nanoTime() - start) / 1e9 / batch);
        }
        return best;
    }
}
