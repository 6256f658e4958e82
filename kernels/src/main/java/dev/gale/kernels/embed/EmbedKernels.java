package dev.gale.kernels.embed;

import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Embedding lookups of F32 and F16 tables as device kernels: {@code out[t][j] = table[ids[t]][j]}, one item per
 * output element, {@code Grid.of1(roundUp(tokens·dim, local), local)}. An id outside {@code [0, vocab)} gives a row of
 * zeros (a device cannot throw; the host paths reject it). Quantized tables are dequantized by
 * {@code QuantKernels.q8Rows/q4Rows}.
 */
public final class EmbedKernels {
    private EmbedKernels() {
    }

    @Kernel
    public static void gatherF32(KernelContext ctx, F32 table, I32 ids, F32 out, int vocab, int dim, int tokens) {
        int i = ctx.globalId(0);
        if (i >= tokens * dim) {
            return;
        }
        int id = ids.get(i / dim);
        float v = 0.0f;
        if (id >= 0 && id < vocab) {
            v = table.get((long) id * dim + i % dim);
        }
        out.set(i, v);
    }

    @Kernel
    public static void gatherF16(KernelContext ctx, F16 table, I32 ids, F32 out, int vocab, int dim, int tokens) {
        int i = ctx.globalId(0);
        if (i >= tokens * dim) {
            return;
        }
        int id = ids.get(i / dim);
        float v = 0.0f;
        if (id >= 0 && id < vocab) {
            v = table.get((long) id * dim + i % dim);
        }
        out.set(i, v);
    }
}
