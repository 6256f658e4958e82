package dev.gale.bench.w4ax;

import dev.gale.bench.quant.QuantBenchCases;
import dev.gale.bench.report.CpuTimeRounds;
import dev.gale.bench.w4a4.W4AxBenchCases;
import dev.gale.kernels.gemm.GemmBlockScaled;
import dev.gale.kernels.gemm.GemmF32;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.W4AxMatmul;
import dev.gale.kernels.quant.W4Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * The prefill GEMMs on one thread, timed in thread CPU time and interleaved round by round, so that the noise of a
 * shared 2-core machine (wall-clock two-thread runs of the same case here swing 1.5×) falls on both alike: W4A4
 * (quantize + matmul, as {@code W4AxMatMulOp} runs it) against the F32 GEMM at the same shape. Which W4A4 kernel
 * ran (paired or not) is printed; compare with {@code -Dgale.gemm.paired=false} in a second JVM. A development
 * probe, run by hand: {@code java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar
 * dev.gale.bench.w4ax.W4GemmCpuTime [tokens rows in reps]}.
 */
public final class W4GemmCpuTime {
    private W4GemmCpuTime() {
    }

    public static void main(String[] args) {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 512;
        int rows = args.length > 1 ? Integer.parseInt(args[1]) : 1024;
        int in = args.length > 2 ? Integer.parseInt(args[2]) : 4096;
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, tokens, in);
            MemorySegment y = arena.allocate(4L * tokens * rows, 64);
            W4Weights w = W4AxBenchCases.syntheticW4(arena, rows, in);
            ActivationQuant a = ActivationQuant.allocate(tokens, in, ActivationQuant.uniform(in, false), arena);
            MemorySegment wf = arena.allocate(4L * rows * in, 64);
            for (long i = 0; i < (long) rows * in; i++) {
                wf.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.cos(i * 0.11));
            }
            Runnable[] cases = {
                () -> {
                    a.quantize(x, 0, tokens);
                    W4AxMatmul.matmul(w, a, y, 0, 0, rows);
                },
                () -> GemmF32.outputs(wf, 0, x, 0, y, 0, tokens, rows, in, 0, rows),
                () -> a.quantize(x, 0, tokens)
            };
            String[] names = {"w4a4 " + (GemmBlockScaled.pairs() ? "paired" : "unpaired"), "f32", "its quantize"};
            double flops = 2.0 * tokens * rows * in;
            double[] min = CpuTimeRounds.run(tokens + "x" + rows + "x" + in, names, cases,
                    Integer.getInteger("rounds", 5), reps, flops);
            System.out.println(String.format(Locale.ROOT,
                    "min over rounds: %s %.2f ms (%.1f GFLOP/s), %s %.2f ms (%.1f GFLOP/s); f32/w4a4 %.3f; %s %.2f ms",
                    names[0], min[0], flops / min[0] / 1e6, names[1], min[1], flops / min[1] / 1e6,
                    min[1] / min[0], names[2], min[2]));
        }
    }
}
