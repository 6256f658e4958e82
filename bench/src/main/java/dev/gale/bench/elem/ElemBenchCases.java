package dev.gale.bench.elem;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.Roofline;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.activation.Gelu;
import dev.gale.kernels.activation.ResidualAdd;
import dev.gale.kernels.activation.Silu;
import dev.gale.kernels.activation.Softmax;
import dev.gale.kernels.activation.SwiGlu;
import dev.gale.kernels.norm.LayerNorm;
import dev.gale.kernels.norm.RmsNorm;
import dev.gale.kernels.rope.Rope;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import dev.gale.kernels.sampling.Argmax;
import dev.gale.kernels.sampling.TopK;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Report cases for the element-wise and row-wise ops at Llama shapes: Llama-3.2-1B (dim 2048, 32 heads × 64, 8 KV
 * heads, ffn 8192, vocab 128256), Llama-3-8B (dim 4096, 32 heads × 128, 8 KV heads, ffn 14336), decode (one token)
 * and a 512-token prefill. Each shape has the single-thread vector path ({@code vector-api x1}); the big ones also the
 * parallel entry over the shared pool ({@code vector-api xN}) and a few the scalar reference, for the ratio.
 *
 * <p>Bytes are compulsory traffic (see {@link ElemCase}); flops per element: RMSNorm 4 (square-add, two muls),
 * LayerNorm 8, softmax 30 (max, fma, exp 25, sum, scale), SiLU 30 (exp 25, abs, blend, div, add, mul), SwiGLU 31,
 * GELU-tanh 34, GELU-erf 70 (erf polynomials and the exp), residual add 1, RoPE 3 (per element: mul + fma), argmax 1,
 * top-k 1 (the filter compare).
 */
public final class ElemBenchCases implements BenchCaseProvider {
    static final int VOCAB = 128256;
    static final int PREFILL = 512;

    @Override
    public List<BenchCase> cases(boolean quick) {
        List<BenchCase> c = new ArrayList<>();
        // RMSNorm.
        c.add(rms(1, 2048, "2048 (Llama-3.2-1B decode)", false));
        c.add(rms(1, 4096, "4096 (Llama-3-8B decode)", false));
        if (!quick) {
            c.add(rmsRef(1, 4096, "4096 (Llama-3-8B decode)"));
            c.add(rms(PREFILL, 4096, "512x4096 (Llama-3-8B prefill)", false));
            c.add(rms(PREFILL, 4096, "512x4096 (Llama-3-8B prefill)", true));
            c.add(layer(1, 4096, "4096 (decode)", false));
            c.add(layer(PREFILL, 4096, "512x4096 (prefill)", true));
        }
        // Softmax: a vocab row, decode attention scores, prefill attention scores.
        c.add(softmax(1, VOCAB, "1x128256 (vocab row)", false));
        if (!quick) {
            c.add(softmaxRef(1, VOCAB, "1x128256 (vocab row)"));
            c.add(softmax(32, 2048, "32x2048 (decode scores, 32 heads, ctx 2048)", false));
            c.add(softmax(32 * PREFILL, PREFILL, "16384x512 (prefill scores, 32 heads x 512)", false));
            c.add(softmax(32 * PREFILL, PREFILL, "16384x512 (prefill scores, 32 heads x 512)", true));
        }
        // RoPE over q and k.
        c.add(rope(1, 32, 8, 64, RopeLayout.ADJACENT_PAIRS, "q 32x64 + k 8x64 (Llama-3.2-1B decode)", false));
        if (!quick) {
            c.add(rope(1, 32, 8, 128, RopeLayout.HALF_SPLIT, "q 32x128 + k 8x128 (Llama-3-8B decode, neox)", false));
            c.add(rope(PREFILL, 32, 8, 128, RopeLayout.ADJACENT_PAIRS, "512 x (q 32x128 + k 8x128) (8B prefill)",
                    false));
            c.add(rope(PREFILL, 32, 8, 128, RopeLayout.ADJACENT_PAIRS, "512 x (q 32x128 + k 8x128) (8B prefill)",
                    true));
            c.add(rope(PREFILL, 32, 8, 128, RopeLayout.HALF_SPLIT, "512 x (q 32x128 + k 8x128) (8B prefill, neox)",
                    false));
        }
        // FFN activations.
        c.add(swiglu(14336, "14336 (Llama-3-8B ffn decode)", false));
        if (!quick) {
            c.add(swiglu(8192, "8192 (Llama-3.2-1B ffn decode)", false));
            c.add(swiglu(PREFILL * 14336L, "512x14336 (Llama-3-8B ffn prefill)", false));
            c.add(swiglu(PREFILL * 14336L, "512x14336 (Llama-3-8B ffn prefill)", true));
            c.add(unary("silu", 14336, "14336 (Llama-3-8B ffn)", false, 30));
            c.add(unary("gelu-erf", 14336, "14336 (ffn width)", false, 70));
            c.add(unary("gelu-tanh", 14336, "14336 (ffn width)", false, 34));
            c.add(unary("gelu-erf", PREFILL * 14336L, "512x14336 (prefill)", true, 70));
            c.add(unaryRef("silu", 14336, "14336 (Llama-3-8B ffn)"));
            c.add(unaryRef("gelu-erf", 14336, "14336 (ffn width)"));
        }
        // Residual add.
        c.add(residual(4096, "4096 (Llama-3-8B decode)", false));
        if (!quick) {
            c.add(residual(PREFILL * 4096L, "512x4096 (Llama-3-8B prefill)", false));
            c.add(residual(PREFILL * 4096L, "512x4096 (Llama-3-8B prefill)", true));
        }
        // Sampling over the vocab.
        c.add(argmax(false));
        c.add(topk(40, false));
        if (!quick) {
            c.add(argmax(true));
            c.add(topk(40, true));
            c.add(topk(64, false));
        }
        return c;
    }

    private static String impl(boolean parallel) {
        return parallel ? "vector-api x" + WorkerPool.shared().threads() : "vector-api x1";
    }

    static BenchCase rms(int rows, int dim, String shape, boolean parallel) {
        long n = (long) rows * dim;
        return new ElemCase("rmsnorm", shape, impl(parallel), 4.0 * (2 * n + dim), 4.0 * n, Roofline.TRIAD_BW,
                new long[] {n, dim, n}, 1, s -> parallel
                        ? () -> RmsNorm.applyParallel(s[0], 0, s[1], 0, s[2], 0, rows, dim, 1e-5f)
                        : () -> RmsNorm.apply(s[0], 0, s[1], 0, s[2], 0, rows, dim, 1e-5f));
    }

    static BenchCase rmsRef(int rows, int dim, String shape) {
        long n = (long) rows * dim;
        return new ElemCase("rmsnorm", shape, "scalar reference", 4.0 * (2 * n + dim), 4.0 * n, Roofline.TRIAD_BW,
                new long[] {n, dim, n}, 1, s -> () -> RmsNorm.reference(s[0], 0, s[1], 0, s[2], 0, rows, dim, 1e-5f));
    }

    static BenchCase layer(int rows, int dim, String shape, boolean parallel) {
        long n = (long) rows * dim;
        return new ElemCase("layernorm", shape, impl(parallel), 4.0 * (2 * n + 2 * dim), 8.0 * n, Roofline.TRIAD_BW,
                new long[] {n, dim, dim, n}, 1, s -> parallel
                        ? () -> LayerNorm.applyParallel(s[0], 0, s[1], 0, s[2], 0, s[3], 0, rows, dim, 1e-5f)
                        : () -> LayerNorm.apply(s[0], 0, s[1], 0, s[2], 0, s[3], 0, rows, dim, 1e-5f));
    }

    static BenchCase softmax(int rows, int dim, String shape, boolean parallel) {
        long n = (long) rows * dim;
        return new ElemCase("softmax", shape, impl(parallel), 8.0 * n, 30.0 * n, Roofline.TRIAD_BW,
                new long[] {n, n}, 4, s -> parallel
                        ? () -> Softmax.applyParallel(s[0], 0, s[1], 0, rows, dim, 1f)
                        : () -> Softmax.apply(s[0], 0, s[1], 0, rows, dim, 1f));
    }

    static BenchCase softmaxRef(int rows, int dim, String shape) {
        long n = (long) rows * dim;
        return new ElemCase("softmax", shape, "scalar reference", 8.0 * n, 30.0 * n, Roofline.TRIAD_BW,
                new long[] {n, n}, 4, s -> () -> Softmax.reference(s[0], 0, s[1], 0, rows, dim, 1f));
    }

    static BenchCase rope(int tokens, int heads, int kvHeads, int headDim, RopeLayout layout, String shape,
            boolean parallel) {
        long q = (long) tokens * heads * headDim;
        long k = (long) tokens * kvHeads * headDim;
        // q and k read and written in place, plus each token's cos and sin rows.
        long tablePerToken = layout == RopeLayout.HALF_SPLIT ? headDim : 2L * headDim;
        double bytes = 4.0 * (2 * (q + k) + tokens * tablePerToken);
        return new ElemCase("rope " + layout.name().toLowerCase(), shape, impl(parallel), bytes, 3.0 * (q + k),
                Roofline.TRIAD_BW, new long[] {q, k}, 1, s -> {
                    RopeTable table = new RopeTable(8192, headDim, 5e5, layout);
                    int[] pos = new int[tokens];
                    for (int t = 0; t < tokens; t++) {
                        pos[t] = 1000 + t;
                    }
                    return parallel
                            ? () -> Rope.applyQKParallel(table, s[0], 0, s[1], 0, tokens, heads, kvHeads, pos)
                            : () -> Rope.applyQK(table, s[0], 0, s[1], 0, tokens, heads, kvHeads, pos);
                });
    }

    static BenchCase swiglu(long n, String shape, boolean parallel) {
        return new ElemCase("swiglu", shape, impl(parallel), 12.0 * n, 31.0 * n, Roofline.TRIAD_BW,
                new long[] {n, n, n}, 2, s -> parallel
                        ? () -> SwiGlu.applyParallel(s[0], 0, s[1], 0, s[2], 0, n)
                        : () -> SwiGlu.apply(s[0], 0, s[1], 0, s[2], 0, n));
    }

    static BenchCase unary(String op, long n, String shape, boolean parallel, double flopsPerElem) {
        return new ElemCase(op, shape, impl(parallel), 8.0 * n, flopsPerElem * n, Roofline.TRIAD_BW,
                new long[] {n, n}, 2, s -> unaryBody(op, s[0], s[1], n, parallel));
    }

    static BenchCase unaryRef(String op, long n, String shape) {
        double f = op.equals("silu") ? 30 : op.equals("gelu-erf") ? 70 : 34;
        return new ElemCase(op, shape, "scalar reference", 8.0 * n, f * n, Roofline.TRIAD_BW, new long[] {n, n}, 2,
                s -> switch (op) {
                    case "silu" -> () -> Silu.reference(s[0], 0, s[1], 0, n);
                    case "gelu-erf" -> () -> Gelu.reference(Gelu.Variant.ERF, s[0], 0, s[1], 0, n);
                    default -> () -> Gelu.reference(Gelu.Variant.TANH, s[0], 0, s[1], 0, n);
                });
    }

    private static Runnable unaryBody(String op, MemorySegment x, MemorySegment y, long n, boolean parallel) {
        return switch (op) {
            case "silu" -> parallel ? () -> Silu.applyParallel(x, 0, y, 0, n) : () -> Silu.apply(x, 0, y, 0, n);
            case "gelu-erf" -> parallel ? () -> Gelu.applyParallel(Gelu.Variant.ERF, x, 0, y, 0, n)
                    : () -> Gelu.apply(Gelu.Variant.ERF, x, 0, y, 0, n);
            case "gelu-tanh" -> parallel ? () -> Gelu.applyParallel(Gelu.Variant.TANH, x, 0, y, 0, n)
                    : () -> Gelu.apply(Gelu.Variant.TANH, x, 0, y, 0, n);
            default -> throw new IllegalArgumentException(op);
        };
    }

    static BenchCase residual(long n, String shape, boolean parallel) {
        return new ElemCase("residual add", shape, impl(parallel), 12.0 * n, n, Roofline.TRIAD_BW,
                new long[] {n, n, n}, 1, s -> parallel
                        ? () -> ResidualAdd.applyParallel(s[0], 0, s[1], 0, s[2], 0, n)
                        : () -> ResidualAdd.apply(s[0], 0, s[1], 0, s[2], 0, n));
    }

    static BenchCase argmax(boolean reference) {
        return new ElemCase("argmax", "128256 (Llama-3 vocab)", reference ? "scalar reference" : "vector-api x1",
                4.0 * VOCAB, VOCAB, Roofline.READ_BW, new long[] {VOCAB}, 4, s -> reference
                        ? () -> Argmax.reference(s[0], 0, VOCAB)
                        : () -> Argmax.apply(s[0], 0, VOCAB));
    }

    static BenchCase topk(int k, boolean reference) {
        return new ElemCase("topk k=" + k, "128256 (Llama-3 vocab)", reference ? "scalar reference" : "vector-api x1",
                4.0 * VOCAB, VOCAB, Roofline.READ_BW, new long[] {VOCAB}, 4, s -> {
                    int[] idx = new int[k];
                    float[] val = new float[k];
                    return reference ? () -> TopK.reference(s[0], 0, VOCAB, k, idx, val)
                            : () -> TopK.apply(s[0], 0, VOCAB, k, idx, val);
                });
    }
}
