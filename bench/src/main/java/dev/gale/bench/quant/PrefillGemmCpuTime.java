package dev.gale.bench.quant;

import dev.gale.bench.report.CpuTimeRounds;
import dev.gale.kernels.gemm.GemmBlockScaled;
import dev.gale.kernels.gemm.GemmF32;
import dev.gale.kernels.quant.PackedPanels;
import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.Q8_0Blocks;
import dev.gale.kernels.quant.Q8_0Lanes;
import dev.gale.kernels.quant.Q8_0Packed;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Locale;

/**
 * The Q4_0 (both packed layouts: {@code Q4_0Packed}, and {@code Q4_0Lanes}, which the decoder packs where it
 * decodes on Q8 activations) and Q8_0 (its three layouts: {@code Q8_0Packed}, {@code Q8_0Blocks} and
 * {@code Q8_0Lanes}, the decoder's wherever it decodes on Q8 activations) prefill GEMMs (F32 activations, each weight panel decoded and scaled while packed:
 * {@link GemmBlockScaled#outputsDequantized}) against the F32 GEMM at the same shape, on one thread in thread CPU
 * time, interleaved round by round ({@link CpuTimeRounds}). The ratio to F32 is what decoding the panels costs: it
 * is paid once per weight and prompt, so it shows at short prompts. A development probe, run by hand:
 * {@code java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar
 * dev.gale.bench.quant.PrefillGemmCpuTime [tokens rows in reps]}.
 */
public final class PrefillGemmCpuTime {
    private PrefillGemmCpuTime() {
    }

    public static void main(String[] args) {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        int rows = args.length > 1 ? Integer.parseInt(args[1]) : 8192;
        int in = args.length > 2 ? Integer.parseInt(args[2]) : 2048;
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, tokens, in);
            MemorySegment y = arena.allocate(4L * tokens * rows, 64);
            Q4_0Packed q4 = Q4_0Packed.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q4_0, rows,
                    in), 0, rows, in, arena);
            Q4_0Lanes l4 = Q4_0Lanes.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q4_0, rows,
                    in), 0, rows, in, arena);
            Q8_0Packed q8 = Q8_0Packed.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q8_0, rows,
                    in), 0, rows, in, arena);
            Q8_0Blocks b8 = Q8_0Blocks.copy(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q8_0, rows,
                    in), 0, rows, in, arena);
            Q8_0Lanes l8 = Q8_0Lanes.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q8_0, rows,
                    in), 0, rows, in, arena);
            MemorySegment wf = QuantBenchCases.syntheticActivations(arena, rows, in);
            Runnable[] cases = {
                () -> GemmBlockScaled.outputsDequantized(PackedPanels.Q4_0, q4, x, 0, y, 0, tokens, rows, in, 0, rows),
                () -> GemmBlockScaled.outputsDequantized(PackedPanels.Q8_0, q8, x, 0, y, 0, tokens, rows, in, 0, rows),
                () -> GemmF32.outputs(wf, 0, x, 0, y, 0, tokens, rows, in, 0, rows),
                () -> GemmBlockScaled.outputsDequantized(PackedPanels.Q4_0_LANES, l4, x, 0, y, 0, tokens, rows, in, 0,
                        rows),
                () -> GemmBlockScaled.outputsDequantized(PackedPanels.Q8_0_BLOCKS, b8, x, 0, y, 0, tokens, rows, in, 0,
                        rows),
                () -> GemmBlockScaled.outputsDequantized(PackedPanels.Q8_0_LANES, l8, x, 0, y, 0, tokens, rows, in, 0,
                        rows)
            };
            String[] names = {"q4_0", "q8_0", "f32", "q4_0 lanes", "q8_0 blocks", "q8_0 lanes"};
            double flops = 2.0 * tokens * rows * in;
            double[] min = CpuTimeRounds.run(tokens + "x" + rows + "x" + in, names, cases,
                    Integer.getInteger("rounds", 5), reps, flops);
            System.out.println(String.format(Locale.ROOT,
                    "min over rounds: q4_0 %.2f ms (%.1f GFLOP/s), q8_0 %.2f ms (%.1f GFLOP/s), f32 %.2f ms "
                            + "(%.1f GFLOP/s), q4_0 lanes %.2f ms, q8_0 blocks %.2f ms, q8_0 lanes %.2f ms; f32/q4_0 %.3f, "
                            + "f32/q8_0 %.3f, f32/q4_0 lanes %.3f, f32/q8_0 blocks %.3f, f32/q8_0 lanes %.3f",
                    min[0], flops / min[0] / 1e6, min[1], flops / min[1] / 1e6, min[2], flops / min[2] / 1e6,
                    min[3], min[4], min[5], min[2] / min[0], min[2] / min[1], min[2] / min[3], min[2] / min[4],
                    min[2] / min[5]));
        }
    }
}
