package dev.gale.bench.w4ax;

import dev.gale.bench.quant.QuantBenchCases;
import dev.gale.bench.report.CpuTimeRounds;
import dev.gale.bench.w4a4.W4AxBenchCases;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.W4AxMatmul;
import dev.gale.kernels.quant.W4Packed;
import dev.gale.kernels.quant.W4Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Locale;

/**
 * The decode GEMVs on one thread, timed in thread CPU time (so a loaded machine's preemption does not count): W4A4
 * row-major, W4A4 packed, Q4_0 packed (F32 activations, as the decoder runs it), each including what its op does per
 * call (the W4A4 cases quantize). A development probe, run by hand:
 * {@code java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.gale.bench.w4ax.W4GemvCpuTime [rows in reps]}.
 */
public final class W4GemvCpuTime {
    private W4GemvCpuTime() {
    }

    public static void main(String[] args) {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 14336;
        int in = args.length > 1 ? Integer.parseInt(args[1]) : 4096;
        int reps = args.length > 2 ? Integer.parseInt(args[2]) : 40;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, 1, in);
            MemorySegment y = arena.allocate(4L * rows, 64);
            W4Weights w = W4AxBenchCases.syntheticW4(arena, rows, in);
            W4Packed p = W4Packed.pack(w, arena);
            ActivationQuant a = ActivationQuant.allocate(1, in, ActivationQuant.uniform(in, false), arena);
            Q4_0Packed q4 = Q4_0Packed.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q4_0, rows,
                    in), 0, rows, in, arena);
            Runnable[] cases = {
                () -> {
                    a.quantize(x, 0, 1);
                    W4AxMatmul.matmul(w, a, y, 0, 0, rows);
                },
                () -> {
                    a.quantize(x, 0, 1);
                    p.gemv(a, y, 0, 0, rows);
                },
                () -> q4.matmulF32(x, 0, 1, y, 0, 0, rows),
                () -> a.quantize(x, 0, 1),
                () -> p.gemv(a, y, 0, 0, rows)
            };
            String[] names = {"w4a4 row-major", "w4a4 packed", "q4_0 packed f32", "quantize", "packed gemv only"};
            double[] min = CpuTimeRounds.run(rows + "x" + in, names, cases, Integer.getInteger("rounds", 3), 5, reps,
                    0);
            StringBuilder line = new StringBuilder("min over rounds:");
            for (int c = 0; c < cases.length; c++) {
                line.append(String.format(Locale.ROOT, " %s %.4f;", names[c], min[c]));
            }
            System.out.println(line.append(String.format(Locale.ROOT, " q4_0/packed %.3f, q4_0/row-major %.3f",
                    min[2] / min[1], min[2] / min[0])));
        }
    }
}
