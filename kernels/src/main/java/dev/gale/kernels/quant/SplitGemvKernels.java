package dev.gale.kernels.quant;

import dev.gale.core.kernel.Const;
import dev.gale.core.kernel.DeviceFunction;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.I8;
import dev.gale.core.kernel.KMath;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/**
 * Q4_0 and Q8_0 GEMV with F32 activations on {@link SplitBlocks} (quant bytes and F32 block scales in two buffers),
 * {@code y[o] = Σ_b d[o][b] · Σ_j q_j · x[32b + j]}: one item per output row, {@code Grid.of1(roundUp(rows, local),
 * local)}; {@code in % 32 == 0}. Argument order: quants, scales, activations, output, {@code rows, in}, then the
 * constant {@code bits} (4 or 8).
 *
 * <p>Shape, chosen for CPU OpenCL (PoCL runs each item's block loop as LLVM compiles it; its SLP vectorizer packs the
 * eight lanes below into one 8-wide vector): per block, lane {@code j} (0..7) takes bytes {@code j} and
 * {@code j + 8} of the row's block, that is elements {@code j, j + 8} (low nibbles) and {@code j + 16, j + 24} (high
 * nibbles) for Q4_0, or elements {@code j, j + 8, j + 16, j + 24} for Q8_0, so every load of the lane set is
 * contiguous (two 8-byte quant loads, four 8-float activation loads). The lane's four products go into one FMA
 * chain and the block's scale multiplies the lane sum once, into the lane's accumulator. Compiled by PoCL 3.1
 * (LLVM 15, AVX2), the Q4_0 block loop is 22 instructions for 20 bytes of weights: two {@code vpmovsxbd} loads, three
 * shifts per 8 nibble pairs for {@code nib − 8} (the XOR-ed storage of {@link SplitBlocks}), four {@code vcvtdq2ps},
 * four FMAs with memory operands, one broadcast and the scale FMA. The block-layout {@link QuantKernels#q4Gemv} needs
 * about 60 for 18 bytes (the fp16 decode alone is 25 scalar instructions, and its lanes need shuffles); with ggml's
 * nibbles (mask, shift, {@code − 8}) this loop was 24.
 *
 * <p>Each nibble is {@code nib − 8} in integers before the multiply, as in the reference, so Inf and NaN activations
 * give what the reference gives (folding {@code −8·Σx} per block would turn {@code nib·∞ − 8·∞} into NaN). Numerics: per lane an FMA chain, then the eight lanes in a plain chain (a tree-shaped final sum kept LLVM from
 * vectorising on PoCL, see {@link QuantKernels}); the rounding error stays within
 * {@code Numerics.dotBound(Σ|d·q·x|, in)}.
 */
public final class SplitGemvKernels {
    private SplitGemvKernels() {
    }

    /**
     * Lane {@code j} of the Q4_0 block whose 16 quant bytes (XOR 0x88, see {@link SplitBlocks}) start at {@code p}:
     * elements j, j+8 (low nibbles) and j+16, j+24 (high nibbles), each {@code nib − 8} from the signed byte by
     * arithmetic shifts.
     */
    @DeviceFunction
    static float q4Lane(I8 q, F32 x, long p, long xb, int j) {
        int v0 = q.get(p + j);
        int v1 = q.get(p + 8 + j);
        float s = (float) ((v0 << 28) >> 28) * x.get(xb + j);
        s = KMath.fma((float) ((v1 << 28) >> 28), x.get(xb + 8 + j), s);
        s = KMath.fma((float) (v0 >> 4), x.get(xb + 16 + j), s);
        return KMath.fma((float) (v1 >> 4), x.get(xb + 24 + j), s);
    }

    /** Lane {@code j} of the Q8_0 block whose 32 quant bytes start at {@code p}: elements j, j+8, j+16, j+24. */
    @DeviceFunction
    static float q8Lane(I8 q, F32 x, long p, long xb, int j) {
        float s = (float) q.get(p + j) * x.get(xb + j);
        s = KMath.fma((float) q.get(p + 8 + j), x.get(xb + 8 + j), s);
        s = KMath.fma((float) q.get(p + 16 + j), x.get(xb + 16 + j), s);
        return KMath.fma((float) q.get(p + 24 + j), x.get(xb + 24 + j), s);
    }

    /** Lane {@code j} of the block at {@code p}: Q4_0's for {@code bits} 4, Q8_0's for 8 (folded at build time). */
    @DeviceFunction
    static float lane(I8 q, F32 x, long p, long xb, int j, int bits) {
        return bits == 4 ? q4Lane(q, x, p, xb, j) : q8Lane(q, x, p, xb, j);
    }

    /**
     * Q4_0 ({@code bits} 4, 16 quant bytes per block) or Q8_0 ({@code bits} 8, 32) GEMV on split blocks: one item per
     * output row. {@code bits} is a build-time constant, so each format's program keeps only its own lane code.
     */
    @Kernel
    public static void gemvSplit(KernelContext ctx, I8 q, F32 d, F32 x, F32 y, int rows, int in, @Const int bits) {
        int o = ctx.globalId(0);
        if (o >= rows) {
            return;
        }
        int nb = in / 32;
        int blockBytes = bits == 4 ? 16 : 32;
        long rq = (long) o * nb * blockBytes;
        long rd = (long) o * nb;
        float a0 = 0.0f;
        float a1 = 0.0f;
        float a2 = 0.0f;
        float a3 = 0.0f;
        float a4 = 0.0f;
        float a5 = 0.0f;
        float a6 = 0.0f;
        float a7 = 0.0f;
        for (int b = 0; b < nb; b++) {
            long p = rq + (long) b * blockBytes;
            long xb = (long) b * 32;
            float s = d.get(rd + b);
            a0 = KMath.fma(s, lane(q, x, p, xb, 0, bits), a0);
            a1 = KMath.fma(s, lane(q, x, p, xb, 1, bits), a1);
            a2 = KMath.fma(s, lane(q, x, p, xb, 2, bits), a2);
            a3 = KMath.fma(s, lane(q, x, p, xb, 3, bits), a3);
            a4 = KMath.fma(s, lane(q, x, p, xb, 4, bits), a4);
            a5 = KMath.fma(s, lane(q, x, p, xb, 5, bits), a5);
            a6 = KMath.fma(s, lane(q, x, p, xb, 6, bits), a6);
            a7 = KMath.fma(s, lane(q, x, p, xb, 7, bits), a7);
        }
        y.set(o, a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    /**
     * The same GEMV for a GPU: one work group of {@code group} items (a power of two, at least 8) per output row.
     * Eight neighbouring items take the eight lanes of one block, so a warp's byte loads of quants and its loads of
     * {@code x} are contiguous and its scale load is one broadcast; the group walks the row {@code group / 8} blocks at
     * a time, and the items' sums meet by halving in local memory. The sum's order differs from {@link #gemvSplit};
     * both stay within the dot-product bound.
     */
    @Kernel
    public static void gemvSplitGroup(KernelContext ctx, I8 q, F32 d, F32 x, F32 y, int rows, int in,
            @Const int bits, @Const int group) {
        float[] scratch = ctx.localFloats(group);
        int lid = ctx.localId(0);
        int o = ctx.groupId(0);
        int nb = in / 32;
        int blockBytes = bits == 4 ? 16 : 32;
        long rq = (long) o * nb * blockBytes;
        long rd = (long) o * nb;
        int j = lid % 8;
        float acc = 0.0f;
        for (int b = lid / 8; b < nb; b += group / 8) {
            acc = KMath.fma(d.get(rd + b), lane(q, x, rq + (long) b * blockBytes, (long) b * 32, j, bits), acc);
        }
        // GemvKernels.groupSum's halving, inline: a kernel calls device functions of its own class only.
        scratch[lid] = acc;
        ctx.barrier();
        for (int h = group / 2; h > 0; h = h / 2) {
            if (lid < h) {
                scratch[lid] = scratch[lid] + scratch[lid + h];
            }
            ctx.barrier();
        }
        if (lid == 0) {
            y.set(o, scratch[0]);
        }
    }
}
