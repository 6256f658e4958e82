package dev.gale.bench.quant;

import dev.gale.bench.probe.ProbeKernels;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.quant.Q8Activations;
import dev.gale.kernels.quant.Q8_0Lanes;
import dev.gale.kernels.quant.Q8_0Packed;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.Locale;

/**
 * Where the Q8_0 decode GEMV's bytes/s stop: {@link Q8_0Packed} (F32 activations), {@link Q8_0Lanes} (Q8 ones), the
 * previous kernel
 * ({@link Q8GemvBefore}) and a plain sequential read of the same bytes, on weights that fit in L2 (per thread), in
 * L3, and streamed from DRAM (16 distinct Llama-3.2-1B ffn_up matrices in turn, as a decode step reads distinct
 * matrices), at 1 and 2 threads, beside the read-only probe run in this process. Variants are interleaved round by
 * round; each cell is the median over rounds of a round's best pass. One thread is timed in thread CPU time (a
 * preempted thread does not count; {@code -Dcpu=false} for wall time), two in wall time. A development probe, run by
 * hand on a quiet machine:
 * {@code java $GALE_JVM_FLAGS -Xbatch -cp bench/target/benchmarks.jar dev.gale.bench.quant.Q8GemvCeiling [rounds]}
 * ({@code -Dsets=012} picks L2, L3, DRAM).
 */
public final class Q8GemvCeiling {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    private static final boolean CPU = Boolean.parseBoolean(System.getProperty("cpu", "true"));
    private static final String[] NAMES = {"f32", "q8 lanes", "f32 before", "stream"};
    private static volatile double sink;

    private Q8GemvCeiling() {
    }

    /** One variant over rows {@code [r0, r1)} of matrix copy {@code m}. */
    private interface Variant {
        void run(int m, int r0, int r1);
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 9;
        String sets = System.getProperty("sets", "012");
        int in = 2048;
        // rows (per thread for L2), distinct copies, GEMVs per copy per pass
        int[][] shape = {{96, 1, 400}, {4096, 1, 12}, {8192, 16, 1}};
        String[] setNames = {"L2 (221 KB/thread)", "L3 (9.4 MB)", "DRAM (16 x 18.9 MB)"};
        WorkerPool pool = WorkerPool.shared();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, 1, in);
            Q8Activations xq = new Q8Activations(arena.allocate(Q8Activations.scratchBytes(1, in), 64), 0, 1, in);
            xq.quantize(x, 0, 1);
            MemorySegment probe = arena.allocate(512L << 20, 4096);
            for (int s = 0; s < shape.length; s++) {
                if (sets.indexOf('0' + s) < 0) {
                    continue;
                }
                for (int threads = 1; threads <= Math.min(2, pool.threads()); threads++) {
                    int rows = shape[s][0] * (s == 0 ? threads : 1);
                    int copies = shape[s][1];
                    int reps = shape[s][2];
                    MemorySegment[] w = new MemorySegment[copies];
                    Q8_0Packed[] now = new Q8_0Packed[copies];
                    Q8_0Lanes[] lanes = new Q8_0Lanes[copies];
                    Q8GemvBefore[] before = new Q8GemvBefore[copies];
                    for (int c = 0; c < copies; c++) {
                        w[c] = QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q8_0, rows, in);
                        now[c] = Q8_0Packed.pack(w[c], 0, rows, in, arena);
                        lanes[c] = Q8_0Lanes.pack(w[c], 0, rows, in, arena);
                        before[c] = Q8GemvBefore.pack(w[c], rows, in, arena);
                    }
                    MemorySegment y = arena.allocate(4L * rows, 64);
                    long rowBytes = w[0].byteSize() / rows;
                    Variant[] vs = {
                        (m, r0, r1) -> now[m].matmulF32(x, 0, 1, y, 0, r0, r1),
                        (m, r0, r1) -> lanes[m].matmul(xq, y, 0, r0, r1),
                        (m, r0, r1) -> before[m].matmulF32(x, y, r0, r1),
                        (m, r0, r1) -> sink += Q8GemvBefore.stream(w[m], r0 * rowBytes, r1 * rowBytes)
                    };
                    double[] bytes = {now[0].byteSize(), lanes[0].byteSize(), before[0].byteSize(), w[0].byteSize()};
                    double[][] gbs = new double[vs.length][rounds];
                    int nThreads = threads;
                    for (int round = 0; round < rounds; round++) {
                        for (int v = 0; v < vs.length; v++) {
                            Variant k = vs[v];
                            Runnable pass = () -> {
                                for (int r = 0; r < reps; r++) {
                                    for (int c = 0; c < copies; c++) {
                                        int cc = c;
                                        if (nThreads == 1) {
                                            k.run(cc, 0, rows);
                                        } else {
                                            pool.parallelFor((rows + 3) / 4, 1,
                                                    (a, b) -> k.run(cc, 4 * a, Math.min(rows, 4 * b)));
                                        }
                                    }
                                }
                            };
                            for (int i = 0; i < (round == 0 ? 20 : 2); i++) {
                                pass.run();
                            }
                            boolean cpu = CPU && nThreads == 1;
                            long best = Long.MAX_VALUE;
                            for (int i = 0; i < 5; i++) {
                                long t0 = cpu ? MX.getCurrentThreadCpuTime() : System.nanoTime();
                                pass.run();
                                best = Math.min(best, (cpu ? MX.getCurrentThreadCpuTime() : System.nanoTime()) - t0);
                            }
                            gbs[v][round] = bytes[v] * copies * reps / best;
                        }
                    }
                    double read = readProbe(pool, probe, threads);
                    StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-20s x%d (%s) read probe %.1f GB/s:",
                            setNames[s], threads, CPU && threads == 1 ? "cpu time" : "wall", read));
                    for (int v = 0; v < vs.length; v++) {
                        double med = median(gbs[v]);
                        sb.append(String.format(Locale.ROOT, "  %s %.1f (%.2f)", NAMES[v], med, med / read));
                    }
                    System.out.println(sb);
                }
            }
        }
    }

    /** Best of 8 passes of the read-only probe kernel over 512 MiB, wall time, on 1 or 2 threads. */
    private static double readProbe(WorkerPool pool, MemorySegment seg, int threads) {
        long n = seg.byteSize() / 4;
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 8; i++) {
            long t0 = System.nanoTime();
            if (threads == 1) {
                sink += ProbeKernels.readSum(seg, 0, n);
            } else {
                pool.parallelFor(2, 1, (a, b) -> {
                    for (int k = a; k < b; k++) {
                        sink += ProbeKernels.readSum(seg, n / 2 * k, n / 2 * (k + 1));
                    }
                });
            }
            best = Math.min(best, System.nanoTime() - t0);
        }
        return (double) seg.byteSize() / best;
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }
}
