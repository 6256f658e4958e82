package dev.gale.kernels.gemm;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.LE;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Operands;
import dev.gale.kernels.activation.Gelu;
import dev.gale.kernels.quant.DynamicQuantU8;
import dev.gale.kernels.quant.GemmU8S8;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * A linear layer on weights packed at load ({@link PackedWeights}), with its epilogue fused: {@code Y = X·Wᵀ + b},
 * optionally followed by GELU (erf), for F32 activations ({@link #gemm}); and the int8 graph's dynamically quantized
 * layer ({@link #u8s8}, bit for bit {@link GemmU8S8}) on the same F32 register tile.
 *
 * <p>Loop nest (one thread's tokens × panels): tokens are taken in blocks sized so that the packed block (all
 * {@code in} inputs, groups of {@link GemmKernel#MR} tokens interleaved) stays in L2 ({@value #BLOCK_FLOATS} floats);
 * for each panel of the packed weights (L1/L2-resident: {@code in·NR} floats) the {@link GemmKernel#tile} register
 * tile runs over all inputs in one pass and the epilogue writes the finished outputs once. Compared with
 * {@link GemmF32} nothing is packed per call but the activations, and no partial sums are stored and reloaded per
 * block of inputs.
 *
 * <p>Numerics. F32: each output is one F32 FMA chain in input order, then {@code + b} (one rounding), then GELU's
 * vector form ({@link Gelu}, the same bits as {@code Gelu.apply} on the stored sums): the result does not depend on the
 * thread count or the token split, and is within {@link dev.gale.kernels.Numerics#dotBound} of the exact product.
 * u8s8: activations {@code q − zp} (|·| ≤ 255) and weights (|·| ≤ 128) are exact floats, their products exact, and
 * every partial sum of at most {@value #EXACT_CHUNK} of them stays below {@code 255·128·512 < 2²⁴}, so the F32 FMA
 * chain over such a chunk is the exact integer sum; chunks are added in int. The epilogue is
 * {@link GemmU8S8#epilogue}'s three roundings, so the output has the reference's bits.
 *
 * <p>The device side of both ops is the existing kernel families (MatMulOp, GemmU8S8Op): this class is a CPU layout of
 * the same products, checked against their scalar references.
 */
public final class GemmPacked {
    private static final String OP = "gemm packed";
    private static final int MR = GemmKernel.MR;
    private static final int NR = GemmKernel.NR;
    private static final int L = GemmKernel.L;
    /** Inputs per exact F32 chunk of u8 × s8 products: {@code 255·128·512 < 2²⁴}. */
    public static final int EXACT_CHUNK = 512;
    /**
     * Floats of one packed activation block (192 KiB: with a 24-96 KiB weight panel it leaves room in a 512 KiB L2):
     * 128 tokens at {@code in} = 384, 32 at 1536.
     */
    static final int BLOCK_FLOATS = 48 * 1024;
    /** 1.5·2²³: {@code (v + RINT) − RINT} rounds {@code |v| < 2²²} to an integer, half to even. */
    private static final float RINT = 0x1.8p23f;

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** The packed activation block and the tile's float and integer accumulators. */
    private static final class Scratch {
        final float[] acc = new float[MR * NR];
        final int[] sum = new int[MR * NR];
        float[] block = new float[0];
        float[] row = new float[0];

        float[] row(int floats) {
            if (row.length < floats) {
                row = new float[floats];
            }
            return row;
        }

        float[] block(int floats) {
            if (block.length < floats) {
                block = new float[floats];
            }
            return block;
        }
    }

    /** Where the tile's activations come from: F32 values, U8 levels, or F32 values quantized while packing. */
    private enum Source { F32, U8, QUANTIZE }

    /** What feeds the tile and what its epilogue does. */
    private record Job(PackedWeights w, Source src, MemorySegment x, long xOff, MemorySegment q, MemorySegment params,
            int seq, MemorySegment wScale, MemorySegment bias, MemorySegment y, long yOff, boolean gelu) {
        /** Integer products (u8 × s8) with the dynamic-quantization epilogue. */
        boolean u8() {
            return src != Source.F32;
        }
    }

    private GemmPacked() {
    }

    /** Scalar reference of {@link #gemm}: double sums, then {@code + b} and GELU in F32 as the vector path rounds. */
    public static void reference(PackedWeights w, MemorySegment x, long xOff, MemorySegment y, long yOff, int tokens,
            MemorySegment bias, boolean gelu) {
        check(w, x, xOff, y, yOff, tokens, bias);
        int out = w.out();
        int in = w.in();
        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < in; i++) {
                    s += (double) w.get(o, i) * x.get(F32, xOff + 4L * ((long) t * in + i));
                }
                float v = (float) s;
                if (bias != null) {
                    v += bias.getAtIndex(F32, o);
                }
                if (gelu) {
                    v = (float) Gelu.gelu(Gelu.Variant.ERF, v);
                }
                y.set(F32, yOff + 4L * ((long) t * out + o), v);
            }
        }
    }

    /**
     * {@code Y[t][o] = Σ_i X[t][i]·W[o][i] (+ bias[o]) (then GELU erf)} for all tokens, parallel on
     * {@link WorkerPool#shared()} over token groups when there are at least as many tokens as outputs, else over
     * weight panels. {@code X} {@code [tokens][in]} and {@code Y} {@code [tokens][out]} F32 at byte offsets;
     * {@code bias} F32 {@code [out]} at 0, or null.
     */
    public static void gemm(PackedWeights w, MemorySegment x, long xOff, MemorySegment y, long yOff, int tokens,
            MemorySegment bias, boolean gelu) {
        check(w, x, xOff, y, yOff, tokens, bias);
        parallel(new Job(w, Source.F32, x, xOff, null, null, 1, null, bias, y, yOff, gelu), tokens);
    }

    /**
     * The int8 graph's layer, {@link GemmU8S8#reference}'s bits (then GELU erf if asked): {@code q} U8
     * {@code [rows][in]} and {@code params} F32 {@code [sentence][scale, zeroPoint]} from
     * {@link dev.gale.kernels.quant.DynamicQuantU8} (sentences of {@code seq} rows), {@code w} from
     * {@link PackedWeights#int8Columns}, {@code wScale} and {@code bias} F32 {@code [out]}, {@code y} F32
     * {@code [rows][out]}, all at offset 0.
     */
    public static void u8s8(PackedWeights w, MemorySegment q, MemorySegment params, int seq, MemorySegment wScale,
            MemorySegment bias, MemorySegment y, int rows, boolean gelu) {
        checkU8(w, q, (long) rows * w.in(), params, seq, wScale, bias, y, rows);
        parallel(new Job(w, Source.U8, null, 0, q, params, seq, wScale, bias, y, 0, gelu), rows);
    }

    /**
     * {@link #u8s8} of {@code x} (F32 {@code [rows][in]}) quantized with {@code params} as
     * {@link dev.gale.kernels.quant.DynamicQuantU8} quantizes it ({@code params} from its {@code paramsParallel}): the
     * levels are computed while packing, so the U8 copy of the activations is never written. The same bits as
     * {@code DynamicQuantU8.reference} then {@link GemmU8S8#reference}.
     */
    public static void u8s8Quantizing(PackedWeights w, MemorySegment x, MemorySegment params, int seq,
            MemorySegment wScale, MemorySegment bias, MemorySegment y, int rows, boolean gelu) {
        checkU8(w, x, 4L * rows * w.in(), params, seq, wScale, bias, y, rows);
        parallel(new Job(w, Source.QUANTIZE, x, 0, null, params, seq, wScale, bias, y, 0, gelu), rows);
    }

    private static void checkU8(PackedWeights w, MemorySegment a, long aBytes, MemorySegment params, int seq,
            MemorySegment wScale, MemorySegment bias, MemorySegment y, int rows) {
        if (!w.int8()) {
            throw new IllegalArgumentException(OP + ": u8s8 needs int8 weights (PackedWeights.int8Columns)");
        }
        int in = w.in();
        int out = w.out();
        Operands.dims(OP, rows, out, in);
        Operands.requireDim(OP, "seq", seq, 1);
        int batch = (rows + seq - 1) / seq;
        if (a.byteSize() < aBytes || params.byteSize() < 8L * batch || wScale.byteSize() < 4L * out
                || bias == null || bias.byteSize() < 4L * out || y.byteSize() < 4L * rows * out) {
            throw new IllegalArgumentException(OP + ": u8s8 segments too small for " + rows + "x" + in + "x" + out);
        }
    }

    private static void parallel(Job job, int tokens) {
        int out = job.w().out();
        if (tokens >= out) {
            int groups = (tokens + MR - 1) / MR;
            int panels = (out + NR - 1) / NR;
            WorkerPool.shared().parallelFor(groups, 1, (s, e) -> compute(job, s * MR, Math.min(tokens, e * MR), 0,
                    panels));
        } else {
            int panels = (out + NR - 1) / NR;
            WorkerPool.shared().parallelFor(panels, 1, (s, e) -> compute(job, 0, tokens, s, e));
        }
    }

    /** Tokens {@code [tStart, tEnd)} × panels {@code [pStart, pEnd)} on the calling thread. */
    private static void compute(Job job, int tStart, int tEnd, int pStart, int pEnd) {
        Scratch scratch = SCRATCH.get();
        PackedWeights w = job.w();
        int in = w.in();
        int out = w.out();
        int mc = Math.max(MR, BLOCK_FLOATS / in / MR * MR);
        float[] xp = scratch.block(Math.min(mc, tEnd - tStart) * in);
        float[] wp = w.panels;
        int oStart = pStart * NR;
        int oEnd = Math.min(out, pEnd * NR);
        for (int ic = tStart; ic < tEnd; ic += mc) {
            int mt = Math.min(mc, tEnd - ic);
            int full = mt - mt % MR;
            switch (job.src()) {
                case F32 -> GemmKernel.packX(job.x(), job.xOff() + 4L * ic * in, in, mt, 0, in, xp);
                case U8 -> packU8(job, ic, mt, in, xp);
                case QUANTIZE -> packQuantized(job, ic, mt, in, xp, scratch.row(in));
            }
            for (int p = pStart; p < pEnd; p++) {
                int wo = p * in * NR;
                int o0 = p * NR;
                int nr = Math.min(NR, out - o0);
                for (int t = 0; t < full; t += MR) {
                    product(job.u8(), xp, t * in, MR, wp, wo, in, scratch);
                    store(job, scratch, ic + t, MR, o0, nr);
                }
                for (int t = full; t < mt; t++) {
                    product(job.u8(), xp, t * in, 1, wp, wo, in, scratch);
                    store(job, scratch, ic + t, 1, o0, nr);
                }
            }
            if (job.gelu()) {
                long ldy = 4L * out;
                long y0 = job.yOff() + ic * ldy + 4L * oStart;
                if (oStart == 0 && oEnd == out) {
                    Gelu.apply(Gelu.Variant.ERF, job.y(), y0, job.y(), y0, (long) mt * out);
                } else {
                    for (int t = 0; t < mt; t++) {
                        Gelu.apply(Gelu.Variant.ERF, job.y(), y0 + t * ldy, job.y(), y0 + t * ldy, oEnd - oStart);
                    }
                }
            }
        }
    }

    /**
     * The tile's sums over all inputs into {@code scratch.acc} ({@code rows} = MR interleaved tokens at {@code xi},
     * or 1 row-major token). u8s8 with more than {@value #EXACT_CHUNK} inputs: exact chunks, added in
     * {@code scratch.sum} and converted back once (exact below 2²⁴; {@code (float) int} rounds as the reference's
     * cast does above).
     */
    private static void product(boolean u8, float[] xp, int xi, int rows, float[] wp, int wo, int in,
            Scratch scratch) {
        float[] acc = scratch.acc;
        if (!u8 || in <= EXACT_CHUNK) {
            tile(rows, xp, xi, wp, wo, in, acc);
            return;
        }
        int[] sum = scratch.sum;
        int n = rows * NR;
        for (int k0 = 0; k0 < in; k0 += EXACT_CHUNK) {
            tile(rows, xp, xi + k0 * rows, wp, wo + k0 * NR, Math.min(EXACT_CHUNK, in - k0), acc);
            for (int i = 0; i < n; i++) {
                sum[i] = k0 == 0 ? (int) acc[i] : sum[i] + (int) acc[i];
            }
        }
        for (int i = 0; i < n; i++) {
            acc[i] = (float) sum[i];
        }
    }

    private static void tile(int rows, float[] xp, int xi, float[] wp, int wo, int kc, float[] acc) {
        if (rows == MR) {
            GemmKernel.tile(xp, xi, wp, wo, kc, acc);
        } else {
            GemmKernel.tile1(xp, xi, wp, wo, kc, acc);
        }
    }

    /** The epilogue of {@code rows} tokens from {@code t} × outputs {@code [o0, o0 + nr)}: whole vectors, then scalars. */
    private static void store(Job job, Scratch scratch, int t, int rows, int o0, int nr) {
        float[] acc = scratch.acc;
        int out = job.w().out();
        MemorySegment y = job.y();
        MemorySegment bias = job.bias();
        int nv = nr - nr % L;
        for (int i = 0; i < rows; i++) {
            long yr = job.yOff() + 4L * ((long) (t + i) * out + o0);
            int a = i * NR;
            if (job.u8()) {
                int s = (t + i) / job.seq();
                float scale = job.params().getAtIndex(F32, 2L * s);
                int j = 0;
                for (; j < nv; j += L) {
                    long c = 4L * (o0 + j);
                    FloatVector m = FloatVector.fromMemorySegment(GemmKernel.F, job.wScale(), c, LE).mul(scale);
                    FloatVector.fromArray(GemmKernel.F, acc, a + j).mul(m)
                            .add(FloatVector.fromMemorySegment(GemmKernel.F, bias, c, LE))
                            .intoMemorySegment(y, yr + 4L * j, LE);
                }
                for (; j < nr; j++) {
                    // acc holds float(sum): (int) of it and the epilogue's cast back give the same float.
                    y.set(F32, yr + 4L * j, GemmU8S8.epilogue((int) acc[a + j], scale,
                            job.wScale().getAtIndex(F32, o0 + j), bias.getAtIndex(F32, o0 + j)));
                }
            } else {
                int j = 0;
                for (; j < nv; j += L) {
                    FloatVector c = FloatVector.fromArray(GemmKernel.F, acc, a + j);
                    if (bias != null) {
                        c = c.add(FloatVector.fromMemorySegment(GemmKernel.F, bias, 4L * (o0 + j), LE));
                    }
                    c.intoMemorySegment(y, yr + 4L * j, LE);
                }
                for (; j < nr; j++) {
                    float c = acc[a + j];
                    if (bias != null) {
                        c += bias.getAtIndex(F32, o0 + j);
                    }
                    y.set(F32, yr + 4L * j, c);
                }
            }
        }
    }

    /**
     * Packs u8 rows {@code [t0, t0 + tokens)} as exact floats {@code q − zp} of each row's sentence, in
     * {@link GemmKernel#packX}'s layout over all inputs (groups of MR interleaved, leftover tokens row by row).
     */
    private static void packU8(Job job, int t0, int tokens, int in, float[] xp) {
        int full = tokens - tokens % MR;
        for (int t = 0; t < tokens; t++) {
            int r = t0 + t;
            float zp = job.params().getAtIndex(F32, 2L * (r / job.seq()) + 1);
            long src = (long) r * in;
            int base = t < full ? (t - t % MR) * in + t % MR : t * in;
            int step = t < full ? MR : 1;
            for (int k = 0; k < in; k++) {
                xp[base + k * step] = Byte.toUnsignedInt(job.q().get(JAVA_BYTE, src + k)) - zp;
            }
        }
    }

    /**
     * Packs F32 rows {@code [t0, t0 + tokens)} as the exact floats {@code q − zp} of their U8 levels, {@code q} as
     * {@link dev.gale.kernels.quant.DynamicQuantU8#quantize} gives it ({@code rint(v / scale) + zp} clamped to
     * [0, 255], NaN to 0): one row at a time in vectors into {@code row}, then interleaved like {@link #packU8}.
     * {@code rint} is the round-to-nearest-even of adding and subtracting 1.5·2²³, exact for the clamped
     * {@code |v / scale| ≤ 512} (clamping there first changes no level: ±512 + zp is outside [0, 255] either way).
     */
    private static void packQuantized(Job job, int t0, int tokens, int in, float[] xp, float[] row) {
        int full = tokens - tokens % MR;
        int bound = GemmKernel.F.loopBound(in);
        for (int t = 0; t < tokens; t++) {
            int r = t0 + t;
            int s = r / job.seq();
            float scale = job.params().getAtIndex(F32, 2L * s);
            float zp = job.params().getAtIndex(F32, 2L * s + 1);
            long src = job.xOff() + 4L * r * in;
            int k = 0;
            for (; k < bound; k += L) {
                FloatVector v = FloatVector.fromMemorySegment(GemmKernel.F, job.x(), src + 4L * k, LE).div(scale);
                v = v.max(-512f).min(512f).add(RINT).sub(RINT).add(zp).max(0f).min(255f);
                v.blend(0f, v.test(VectorOperators.IS_NAN)).sub(zp).intoArray(row, k);
            }
            for (; k < in; k++) {
                row[k] = DynamicQuantU8.quantize(job.x().get(F32, src + 4L * k), scale, zp) - zp;
            }
            int base = t < full ? (t - t % MR) * in + t % MR : t * in;
            int step = t < full ? MR : 1;
            for (k = 0; k < in; k++) {
                xp[base + k * step] = row[k];
            }
        }
    }

    private static void check(PackedWeights w, MemorySegment x, long xOff, MemorySegment y, long yOff, int tokens,
            MemorySegment bias) {
        Operands.dims(OP, tokens, w.out(), w.in());
        Operands.matrix(OP, "X (activations)", x, xOff, tokens, w.in(), Float.BYTES, "F32");
        Operands.matrix(OP, "Y (output)", y, yOff, tokens, w.out(), Float.BYTES, "F32");
        if (bias != null) {
            Operands.requireF32(OP, "bias", bias, 0, w.out());
        }
    }
}
