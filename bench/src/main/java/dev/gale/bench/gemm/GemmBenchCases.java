package dev.gale.bench.gemm;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.gemm.LinearCase.Weights;
import java.util.ArrayList;
import java.util.List;

/**
 * The gemm family's report cases at Llama layer shapes (out × in = rows × columns of W): Llama-3-8B (dim 4096,
 * ffn 14336) and Llama-3.2-1B (dim 2048, ffn 8192, vocab 128256). GEMV (decode, one token) against read bandwidth,
 * GEMM (prefill, 512 tokens) against the FMA peak; F32 and F16 weights. Also F32 GEMMs at BERT encoder shapes (8192
 * tokens: the models-bert batch path).
 */
public final class GemmBenchCases implements BenchCaseProvider {
    @Override
    public List<BenchCase> cases(boolean quick) {
        List<BenchCase> cases = new ArrayList<>();
        for (Weights wt : Weights.values()) {
            cases.add(new LinearCase(wt, 1, 4096, 4096, "Llama-3-8B attn_q"));
            if (!quick) {
                cases.add(new LinearCase(wt, 1, 2048, 8192, "Llama-3.2-1B ffn_down"));
                cases.add(new LinearCase(wt, 1, 14336, 4096, "Llama-3-8B ffn_up"));
            }
        }
        if (!quick) {
            // More than 256 MiB of weights (1 GiB F32), far past any cache.
            cases.add(new LinearCase(Weights.F32, 1, 128256, 2048, "Llama-3.2-1B output"));
            cases.add(new LinearCase(Weights.F16, 1, 128256, 2048, "Llama-3.2-1B output"));
        }
        for (Weights wt : Weights.values()) {
            if (quick) {
                cases.add(new LinearCase(wt, 128, 2048, 2048, "Llama-3.2-1B attn_q, 128 tokens"));
            } else {
                cases.add(new LinearCase(wt, 512, 14336, 4096, "Llama-3-8B ffn_up, 512 tokens"));
                cases.add(new LinearCase(wt, 512, 2048, 8192, "Llama-3.2-1B ffn_down, 512 tokens"));
                cases.add(new LinearCase(wt, 512, 4096, 4096, "Llama-3-8B attn_q, 512 tokens"));
            }
        }
        if (!quick) {
            // BERT-small/MiniLM encoder layers (hidden 384, FFN 1536) over a batch of 64 sequences of 128 tokens.
            cases.add(new LinearCase(Weights.F32, 8192, 384, 384, "BERT 384 attn, 64x128 tokens"));
            cases.add(new LinearCase(Weights.F32, 8192, 1536, 384, "BERT 384 ffn_up, 64x128 tokens"));
            cases.add(new LinearCase(Weights.F32, 8192, 384, 1536, "BERT 384 ffn_down, 64x128 tokens"));
        }
        return cases;
    }
}
