package dev.gale.bench.quant;

import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q8_0Lanes;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Locale;

/**
 * The row-lane decode kernels ({@link Q4_0Lanes}, {@link Q8_0Lanes}) on one thread over one matrix that stays in L2
 * (512 × 2048 by default: 655 KB of Q4_0 lanes, 1.2 MB of Q8_0), so the time is the kernel's arithmetic and not
 * DRAM's: the limit a prompt of a few tokens meets (its tokens reuse the weights from cache), and the work per line
 * that a decode from DRAM overlaps with its loads. {@code DecodeGemvSweep} measures the same kernels from DRAM.
 * Activations are N(0, 1), as a decode's are near enough: most Q8 blocks then let the 4-bit kernel sum a whole block
 * in 16 bits. Prints the best and median of the rounds, in GB/s of the packed weights per token. A development probe,
 * run by hand: {@code java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar
 * dev.gale.bench.quant.RowLaneGemvInCache [rounds] [tokens] [rows] [in]}.
 */
public final class RowLaneGemvInCache {
    private RowLaneGemvInCache() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        int rows = args.length > 2 ? Integer.parseInt(args[2]) : 512;
        int in = args.length > 3 ? Integer.parseInt(args[3]) : 2048;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = QuantBenchCases.gaussianActivations(arena, tokens, in);
            MemorySegment y = arena.allocate(4L * tokens * rows, 64);
            Q4_0Lanes q4 = Q4_0Lanes.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q4_0, rows,
                    in), 0, rows, in, arena);
            Q8_0Lanes q8 = Q8_0Lanes.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q8_0, rows,
                    in), 0, rows, in, arena);
            // calls per round: about 20 ms of Q4_0 at 20 GB/s
            int calls = (int) Math.max(1, 4e8 / q4.byteSize() / tokens);
            double[][] gbs = new double[2][rounds];
            for (int r = 0; r < rounds; r++) {
                gbs[0][r] = round(() -> q4.matmulQ8(x, 0, tokens, y, 0, 0, rows), calls, q4.byteSize() * tokens);
                gbs[1][r] = round(() -> q8.matmulQ8(x, 0, tokens, y, 0, 0, rows), calls, q8.byteSize() * tokens);
            }
            System.out.println(String.format(Locale.ROOT, "%d x %d, %d token(s), one thread, %d rounds (the first "
                    + "quarter dropped): GB/s of packed weights per token", rows, in, tokens, rounds));
            String[] names = {"q4_0 lanes", "q8_0 lanes"};
            for (int v = 0; v < 2; v++) {
                double[] s = Arrays.copyOfRange(gbs[v], rounds / 4, rounds);
                Arrays.sort(s);
                System.out.println(String.format(Locale.ROOT, "%-11s best %5.1f  median %5.1f", names[v],
                        s[s.length - 1], s[s.length / 2]));
            }
        }
    }

    private static double round(Runnable call, int calls, long bytes) {
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            call.run();
        }
        return (double) bytes * calls / (System.nanoTime() - t0);
    }
}
