package dev.gale.bench.quant;

import dev.gale.kernels.gemm.GemmBlockScaled;
import dev.gale.kernels.quant.PackedPanels;
import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q8_0Lanes;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Locale;

/**
 * Where a few tokens on the row lanes should switch from the decode kernel run per token
 * ({@code matmulQ8Parallel}) to the GEMM over dequantized panels ({@link GemmBlockScaled#gemmDequantized}): both
 * paths for Q8_0 and Q4_0 at one shape and several token counts, on all threads of the shared pool, variants in turn
 * round by round, best of the rounds after the first few. {@code QuantMatMulOp}'s {@code LANES_GEMM_TOKENS} comes from
 * it. A development probe, run by hand: {@code java $GALE_JVM_FLAGS -cp bench/target/benchmarks.jar
 * dev.gale.bench.quant.LanesGemmCrossover [in out tokens,tokens,…]}.
 */
public final class LanesGemmCrossover {
    private LanesGemmCrossover() {
    }

    public static void main(String[] args) {
        int in = args.length > 0 ? Integer.parseInt(args[0]) : 2048;
        int rows = args.length > 1 ? Integer.parseInt(args[1]) : 8192;
        String list = args.length > 2 ? args[2] : "8,12,16,20,24,32,48";
        int[] counts = java.util.Arrays.stream(list.split(",")).mapToInt(Integer::parseInt).toArray();
        int most = java.util.Arrays.stream(counts).max().orElse(1);
        try (Arena arena = Arena.ofShared()) {
            Q8_0Lanes l8 = Q8_0Lanes.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q8_0, rows,
                    in), 0, rows, in, arena);
            Q4_0Lanes l4 = Q4_0Lanes.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q4_0, rows,
                    in), 0, rows, in, arena);
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, most, in);
            MemorySegment y = arena.allocate(4L * rows * most, 64);
            System.out.println(String.format(Locale.ROOT, "%d -> %d, ms per call (best of rounds), GEMM / per-token lanes",
                    in, rows));
            for (int t : counts) {
                double[] best = {Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE};
                for (int round = 0; round < 12; round++) {
                    for (int v = 0; v < 4; v++) {
                        long t0 = System.nanoTime();
                        for (int r = 0; r < 3; r++) {
                            switch (v) {
                                case 0 -> l8.matmulQ8Parallel(x, 0, t, y, 0);
                                case 1 -> GemmBlockScaled.gemmDequantized(PackedPanels.Q8_0_LANES, l8, x, 0, y, 0, t,
                                        rows, in);
                                case 2 -> l4.matmulQ8Parallel(x, 0, t, y, 0);
                                default -> GemmBlockScaled.gemmDequantized(PackedPanels.Q4_0_LANES, l4, x, 0, y, 0, t,
                                        rows, in);
                            }
                        }
                        double ms = (System.nanoTime() - t0) / 3e6;
                        if (round >= 4) {
                            best[v] = Math.min(best[v], ms);
                        }
                    }
                }
                System.out.println(String.format(Locale.ROOT,
                        "%3d tokens: q8_0 per-token %.2f, gemm %.2f (%.2f); q4_0 per-token %.2f, gemm %.2f (%.2f)", t,
                        best[0], best[1], best[1] / best[0], best[2], best[3], best[3] / best[2]));
            }
        }
    }
}
