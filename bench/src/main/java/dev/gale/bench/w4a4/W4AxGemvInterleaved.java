package dev.gale.bench.w4a4;

import dev.gale.bench.quant.QuantBenchCases;
import dev.gale.bench.report.Table;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.QuantMatMulOp;
import dev.gale.kernels.quant.W4Packed;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The W4A4 and W4A8 decode GEMV ({@link W4Packed}, quantization included) against the Q4_0 decode GEMV as the
 * decoder runs it ({@link QuantMatMulOp}, packed for the machine's default path: {@code Q4_0Lanes} on Q8 activations
 * wherever the vector kernels run, {@code Q4_0Packed} on F32 ones with {@code -Dgale.q4.activations=f32};
 * quantization included where it quantizes), <b>interleaved</b>: each round times one call of each, back to back, rotating which goes first, so
 * all three see the same load. The report cases, timed one after the other, can meet very different loads on the
 * shared 2-core machine; the per-round speed ratio does not. Issue 6's target is a speed of at least 0.95.
 */
final class W4AxGemvInterleaved {
    static final String TITLE = "w4ax gemv vs q4_0 packed gemv, interleaved";

    private W4AxGemvInterleaved() {
    }

    static Table measure(boolean quick) {
        int rounds = quick ? 9 : 41;
        List<List<String>> rows = new ArrayList<>();
        rows.addAll(shape(QuantBenchCases.L8B_UP.in(), QuantBenchCases.L8B_UP.out(), "Llama-3-8B ffn_up", rounds));
        if (!quick) {
            rows.addAll(shape(14336, 4096, "Llama-3-8B ffn_down", rounds));
        }
        List<String> notes = List.of(
                rounds + " rounds after a one-second warm-up; a round times one call of each GEMV (Q4_0, W4A4, W4A8),"
                        + " rotating which goes first. W4Ax calls include the activation quantization, as the "
                        + "decoder's op pays it; so do Q4_0's where QuantMatMulOp, the decoder's op, quantizes them (its"
                        + " default: Q8 activations wherever the vector kernels run; -Dgale.q4.activations=q8|f32 chooses).",
                "speed = Q4_0 time / W4Ax time (above 1: W4Ax is faster); best/best compares the best round times,"
                        + " median and range are over the per-round speeds.",
                WorkerPool.shared().threads() + " threads of WorkerPool.shared().");
        return new Table(TITLE, List.of("op", "shape", "q4_0 best", "w4ax best", "speed best/best", "speed median",
                "speed range"), rows, notes);
    }

    private static List<List<String>> shape(int in, int out, String what, int rounds) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, 1, in);
            MemorySegment y = arena.allocate(4L * out, 64);
            W4Packed w4 = W4Packed.pack(W4AxBenchCases.syntheticW4(arena, out, in), arena);
            ActivationQuant a4 = ActivationQuant.allocate(1, in, ActivationQuant.uniform(in, false), arena);
            ActivationQuant a8 = ActivationQuant.allocate(1, in, ActivationQuant.uniform(in, true), arena);
            QuantMatMulOp q4op = QuantMatMulOp.q4_0(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q4_0,
                    out, in), 0, out, in, arena);
            Runnable[] calls = {
                () -> q4op.matmul(x, 0, 1, y, 0),
                () -> {
                    a4.quantize(x, 0, 1);
                    w4.gemvParallel(a4, y, 0);
                },
                () -> {
                    a8.quantize(x, 0, 1);
                    w4.gemvParallel(a8, y, 0);
                }
            };
            for (long end = System.nanoTime() + 1_000_000_000L; System.nanoTime() < end; ) {
                for (Runnable c : calls) {
                    c.run();
                }
            }
            double[][] t = new double[calls.length][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int k = 0; k < calls.length; k++) {
                    int c = (k + r) % calls.length;
                    long t0 = System.nanoTime();
                    calls[c].run();
                    t[c][r] = (System.nanoTime() - t0) * 1e-9;
                }
            }
            String shape = in + "x" + out + " (" + what + ")";
            List<List<String>> rows = new ArrayList<>();
            String[] names = {"w4a4", "w4a8"};
            double bestQ4 = Arrays.stream(t[0]).min().orElseThrow();
            for (int c = 1; c < calls.length; c++) {
                double[] speed = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    speed[r] = t[0][r] / t[c][r];
                }
                Arrays.sort(speed);
                double best = Arrays.stream(t[c]).min().orElseThrow();
                rows.add(List.of("w4ax gemv " + names[c - 1] + " (quantize + matmul)", shape, ms(bestQ4), ms(best),
                        fmt(bestQ4 / best), fmt(speed[rounds / 2]), fmt(speed[0]) + " - " + fmt(speed[rounds - 1])));
            }
            return rows;
        }
    }

    private static String ms(double s) {
        return String.format(Locale.ROOT, "%.2f ms", s * 1e3);
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.3g", v);
    }
}
