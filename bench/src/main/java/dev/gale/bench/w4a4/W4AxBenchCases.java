package dev.gale.bench.w4a4;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.Roofline;
import dev.gale.bench.quant.QuantBenchCases;
import dev.gale.bench.report.Table;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.gemm.GemmF32;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.W4AxMatmul;
import dev.gale.kernels.quant.W4Packed;
import dev.gale.kernels.quant.W4Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * W4Ax (COMET) report cases beside their baselines, in one provider so one {@code --filter w4a} run times both:
 * W4A4 GEMM against F32 GEMM ({@code GemmF32}) at 512 tokens × 4096 → 4096 and 4096 → 14336 (issue 6's shapes;
 * llama.cpp's CPU Q4_0 prefill reached 101 GFLOP/s at the latter on a Zen 4 box), W4A4 and W4A8 GEMV ({@link W4Packed},
 * what the decoder's op runs; W4A4 also over the row-major import layout, the previous path) against Q4_0 GEMV
 * ({@code Q4_0Packed.matmulF32Parallel}, F32 activations) at 4096 → 14336 and 14336 → 4096, and the same GEMVs
 * interleaved round by round ({@link W4AxGemvInterleaved}: the comparison a loaded machine does not skew). Like
 * with like, as the decoder runs them: the W4Ax runs include the activation quantization (a decode or prefill step
 * pays it), the Q4_0 run has none to pay (its kernel reads the F32 activations). Weights group size 128; W4A8 means
 * every block A8, W4A4 every block A4 (same kernel, FMPQ's mix lies between). Synthetic weights: speed does not
 * depend on them.
 */
public final class W4AxBenchCases implements BenchCaseProvider {
    @Override
    public List<BenchCase> cases(boolean quick) {
        List<BenchCase> cases = new ArrayList<>();
        cases.add(new Case(Kind.W4A4, 1, 4096, 14336));
        cases.add(new Case(Kind.W4A8, 1, 4096, 14336));
        cases.add(new Case(Kind.W4A4_ROW_MAJOR, 1, 4096, 14336));
        cases.add(new Case(Kind.Q4_0, 1, 4096, 14336));
        if (!quick) {
            cases.add(new Case(Kind.W4A4, 1, 14336, 4096));
            cases.add(new Case(Kind.W4A8, 1, 14336, 4096));
            cases.add(new Case(Kind.Q4_0, 1, 14336, 4096));
            cases.add(new Case(Kind.W4A4, 512, 4096, 4096));
            cases.add(new Case(Kind.F32, 512, 4096, 4096));
            cases.add(new Case(Kind.W4A4, 512, 4096, 14336));
            cases.add(new Case(Kind.F32, 512, 4096, 14336));
        }
        return cases;
    }

    @Override
    public List<Table> tables(boolean quick, Predicate<String> wanted) {
        return wanted.test(W4AxGemvInterleaved.TITLE) ? List.of(W4AxGemvInterleaved.measure(quick)) : List.of();
    }

    /** What one case runs. */
    enum Kind {
        W4A4, W4A8, Q4_0, F32,
        /** W4A4 GEMV over the import layout ({@link W4AxMatmul}'s row-major kernel): the pre-{@link W4Packed} path. */
        W4A4_ROW_MAJOR;

        boolean w4() {
            return this == W4A4 || this == W4A8 || this == W4A4_ROW_MAJOR;
        }
    }

    static final class Case implements BenchCase {
        private final Kind kind;
        private final int tokens;
        private final int in;
        private final int out;
        private Arena arena;
        private MemorySegment x;
        private MemorySegment y;
        private MemorySegment wf;
        private W4Weights w4;
        private ActivationQuant xq;
        private Q4_0Packed q4;
        private W4Packed packed;

        Case(Kind kind, int tokens, int in, int out) {
            this.kind = kind;
            this.tokens = tokens;
            this.in = in;
            this.out = out;
        }

        @Override
        public String op() {
            return (tokens == 1 ? "w4ax gemv " : "w4ax gemm ") + (kind == Kind.W4A4_ROW_MAJOR ? "w4a4 row-major" : kind.name().toLowerCase())
                    + (kind.w4() ? " (quantize + matmul)" : " (baseline)");
        }

        @Override
        public String shape() {
            return (tokens == 1 ? "" : tokens + "x") + in + "x" + out;
        }

        @Override
        public String impl() {
            return "vector-api x" + WorkerPool.shared().threads();
        }

        @Override
        public double bytes() {
            double weights = switch (kind) {
                case W4A4, W4A8, W4A4_ROW_MAJOR -> (double) out * in / 2 + 4.0 * out * in / 128;
                case Q4_0 -> 18.0 * out * in / 32;
                case F32 -> 4.0 * out * in;
            };
            return weights + 4.0 * tokens * in + 4.0 * tokens * out;
        }

        @Override
        public double flops() {
            return 2.0 * out * in * tokens;
        }

        @Override
        public Roofline roofline() {
            return tokens == 1 ? Roofline.READ_BW : Roofline.FMA_PEAK;
        }

        @Override
        public void setup() {
            arena = Arena.ofShared();
            x = QuantBenchCases.syntheticActivations(arena, tokens, in);
            y = arena.allocate(4L * tokens * out, 64);
            switch (kind) {
                case W4A4, W4A8, W4A4_ROW_MAJOR -> {
                    w4 = syntheticW4(arena, out, in);
                    packed = kind != Kind.W4A4_ROW_MAJOR && tokens == 1 ? W4Packed.pack(w4, arena) : null;
                    xq = ActivationQuant.allocate(tokens, in, ActivationQuant.uniform(in, kind == Kind.W4A8), arena);
                }
                case Q4_0 -> q4 = Q4_0Packed.pack(QuantBenchCases.syntheticWeights(arena, QuantBenchCases.Format.Q4_0,
                        out, in), 0, out, in, arena);
                case F32 -> {
                    wf = arena.allocate(4L * out * in, 64);
                    for (long i = 0; i < (long) out * in; i++) {
                        wf.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.cos(i * 0.11));
                    }
                }
            }
        }

        @Override
        public void run() {
            switch (kind) {
                case W4A4, W4A8, W4A4_ROW_MAJOR -> {
                    xq.quantize(x, 0, tokens);
                    if (packed != null) {
                        packed.gemvParallel(xq, y, 0);
                    } else {
                        W4AxMatmul.matmulParallel(w4, xq, y, 0);
                    }
                }
                case Q4_0 -> q4.matmulF32Parallel(x, 0, tokens, y, 0);
                case F32 -> GemmF32.gemm(wf, 0, x, 0, y, 0, tokens, out, in);
            }
        }

        @Override
        public void close() {
            if (arena != null) {
                arena.close();
                arena = null;
            }
        }
    }

    /**
     * Synthetic group-128 W4 weights for the GEMV benches: pseudo-random codes and one small scale everywhere (speed
     * does not depend on the values).
     */
    public static W4Weights syntheticW4(Arena arena, int rows, int in) {
        MemorySegment codes = arena.allocate((long) rows * in / 2, 64);
        long state = 0x9E3779B97F4A7C15L;
        for (long o = 0; o + 8 <= codes.byteSize(); o += 8) {
            state = state * 6364136223846793005L + 1442695040888963407L;
            codes.set(ValueLayout.JAVA_LONG_UNALIGNED, o, state);
        }
        MemorySegment scales = arena.allocate(4L * rows * (in / W4Weights.BLOCK), 64);
        for (long i = 0; i < (long) rows * (in / W4Weights.BLOCK); i++) {
            scales.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0x1p-8f);
        }
        return W4Weights.of(rows, in, W4Weights.BLOCK, codes, scales);
    }
}
