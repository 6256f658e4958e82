package dev.gale.bench.device;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.BenchDevices;
import dev.gale.bench.Roofline;
import dev.gale.bench.quant.QuantBenchCases;
import dev.gale.bench.report.Table;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.activation.ActivationKernels;
import dev.gale.kernels.gemm.GemvGeometry;
import dev.gale.kernels.gemm.GemvKernels;
import dev.gale.kernels.norm.NormKernels;
import dev.gale.kernels.quant.QuantKernels;
import dev.gale.kernels.quant.SplitBlocks;
import dev.gale.kernels.quant.SplitGemvKernels;
import dev.gale.kernels.rope.RopeKernels;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import dev.gale.kernels.sampling.SamplingKernels;
import dev.gale.opencl.OpenClDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Device-kernel report cases: every op with a {@code @Kernel}, launched on each device with a kernel runner
 * ({@link BenchDevices#withRunner()}: OpenCL devices, PoCL on the CPU here; CUDA devices where that backend is on the
 * class path) at the Vector API cases' shapes, with the same op and shape strings and the same byte and flop counts as
 * {@code GemmBenchCases} and {@code ElemBenchCases}, so the report pairs them ("Device vs Vector API"). Kernels and
 * geometries are the ones the graph ops launch ({@code KernelOp}: work groups of 64): F32 GEMV {@code gemvF32Rows16}
 * (the fastest GemvKernels variant on PoCL), F16 GEMV {@code gemvF16Rows}, Q8_0/Q4_0 GEMV on split blocks (and on
 * ggml's blocks, the previous kernels, for comparison), {@code rmsNorm} and {@code softmax} one
 * group per row, {@code swiGlu} and {@code residualAdd} one item per element, {@code argmax} one group, and RoPE from
 * cos/sin tables ({@code ropeTable}: one launch for q, one for k). See {@link DeviceCase} for what a run times.
 *
 * <p>Also tables per device: the quantized GEMVs against the Vector API timed in interleaved rounds
 * ({@link InterleavedQuantGemv}), and on OpenCL devices only, cold and warm program builds and launch overhead
 * ({@link DeviceOverhead}, which measures OpenCL's own program cache and queue).
 *
 * <p>Without such a device the provider lists no cases and says why, once; it never reports numbers it did not
 * measure.
 */
public final class DeviceBenchCases implements BenchCaseProvider {
    /** Work-group size of the graph ops' launches ({@code KernelOp.GROUP}). */
    static final int GROUP = 64;
    static final int VOCAB = 128256;
    static final int PREFILL = 512;

    /** The devices the cases run on ({@link BenchDevices#withRunner()}). */
    static List<Device> devices() {
        return BenchDevices.withRunner();
    }

    @Override
    public List<BenchCase> cases(boolean quick) {
        List<BenchCase> c = new ArrayList<>();
        for (Device d : devices()) {
            c.addAll(cases(d, quick));
        }
        return c;
    }

    @Override
    public List<Table> tables(boolean quick, Predicate<String> wanted) {
        List<Table> t = new ArrayList<>();
        for (Device d : devices()) {
            if (d instanceof OpenClDevice cl && wanted.test(DeviceOverhead.title(cl))) {
                t.add(DeviceOverhead.measure(cl, quick));
            }
            if (wanted.test(InterleavedQuantGemv.title(d))) {
                t.add(InterleavedQuantGemv.measure(d, quick));
            }
        }
        return t;
    }

    static List<BenchCase> cases(Device d, boolean quick) {
        List<BenchCase> c = new ArrayList<>();
        // On a GPU the graph ops launch a work group per row (GemvGeometry); the one-item-per-row rows stay beside
        // them as the previous variant.
        int group = GemvGeometry.groupPerRow(d);
        for (int g : group == 0 ? new int[] {0} : new int[] {0, group}) {
            c.add(gemv(d, false, 4096, 4096, "Llama-3-8B attn_q", g));
            c.add(gemv(d, true, 4096, 4096, "Llama-3-8B attn_q", g));
            if (!quick) {
                c.add(gemv(d, false, 2048, 8192, "Llama-3.2-1B ffn_down", g));
                c.add(gemv(d, true, 2048, 8192, "Llama-3.2-1B ffn_down", g));
                // 224 MiB of F32 weights, far past any cache.
                c.add(gemv(d, false, 14336, 4096, "Llama-3-8B ffn_up", g));
                c.add(gemv(d, true, 14336, 4096, "Llama-3-8B ffn_up", g));
            }
        }
        for (String kernel : group == 0 ? new String[] {"gemvSplit", "block"}
                : new String[] {"gemvSplit", "gemvSplitGroup", "block"}) {
            c.add(quantGemv(d, QuantBenchCases.Format.Q8_0, QuantBenchCases.L1B_UP, kernel, group));
            c.add(quantGemv(d, QuantBenchCases.Format.Q4_0, QuantBenchCases.L1B_UP, kernel, group));
            if (!quick) {
                c.add(quantGemv(d, QuantBenchCases.Format.Q8_0, QuantBenchCases.L8B_UP, kernel, group));
                c.add(quantGemv(d, QuantBenchCases.Format.Q4_0, QuantBenchCases.L8B_UP, kernel, group));
                c.add(quantGemv(d, QuantBenchCases.Format.Q4_0, QuantBenchCases.Q4_128MIB, kernel, group));
            }
        }
        c.add(rms(d, 1, 2048, "2048 (Llama-3.2-1B decode)"));
        c.add(rms(d, 1, 4096, "4096 (Llama-3-8B decode)"));
        if (!quick) {
            c.add(rms(d, PREFILL, 4096, "512x4096 (Llama-3-8B prefill)"));
        }
        c.add(softmax(d, 1, VOCAB, "1x128256 (vocab row)"));
        if (!quick) {
            c.add(softmax(d, 32, 2048, "32x2048 (decode scores, 32 heads, ctx 2048)"));
            c.add(softmax(d, 32 * PREFILL, PREFILL, "16384x512 (prefill scores, 32 heads x 512)"));
        }
        c.add(rope(d, 1, 32, 8, 64, RopeLayout.ADJACENT_PAIRS, "q 32x64 + k 8x64 (Llama-3.2-1B decode)"));
        if (!quick) {
            c.add(rope(d, 1, 32, 8, 128, RopeLayout.HALF_SPLIT, "q 32x128 + k 8x128 (Llama-3-8B decode, neox)"));
            c.add(rope(d, PREFILL, 32, 8, 128, RopeLayout.ADJACENT_PAIRS, "512 x (q 32x128 + k 8x128) (8B prefill)"));
            c.add(rope(d, PREFILL, 32, 8, 128, RopeLayout.HALF_SPLIT,
                    "512 x (q 32x128 + k 8x128) (8B prefill, neox)"));
        }
        c.add(swiglu(d, 14336, "14336 (Llama-3-8B ffn decode)"));
        if (!quick) {
            c.add(swiglu(d, 8192, "8192 (Llama-3.2-1B ffn decode)"));
            c.add(swiglu(d, PREFILL * 14336, "512x14336 (Llama-3-8B ffn prefill)"));
        }
        c.add(residual(d, 4096, "4096 (Llama-3-8B decode)"));
        if (!quick) {
            c.add(residual(d, PREFILL * 4096, "512x4096 (Llama-3-8B prefill)"));
        }
        c.add(argmax(d, VOCAB));
        if (!quick) {
            int t = W4AxGemmDeviceCases.TOKENS;
            c.add(W4AxGemmDeviceCases.w4a4(d, t, W4AxGemmDeviceCases.IN, W4AxGemmDeviceCases.OUT));
            c.add(W4AxGemmDeviceCases.f32(d, t, W4AxGemmDeviceCases.IN, W4AxGemmDeviceCases.OUT));
        }
        return c;
    }

    static Grid elementGrid(int n) {
        return Grid.of1((n + GROUP - 1) / GROUP * GROUP, GROUP);
    }

    static Grid rowGroups(int rows) {
        return Grid.of1(rows * GROUP, GROUP);
    }

    /**
     * {@code y = W·x}: F32 weights with gemvF32Rows16, F16 with gemvF16Rows; with {@code group} > 0, the work group
     * per row kernels (gemvF32Group, gemvF16Group), named in the impl column. Buffers {@code w, x, y}.
     */
    static DeviceCase gemv(Device d, boolean f16, int out, int in, String origin, int group) {
        double bytes = (double) out * in * (f16 ? 2 : 4) + 4.0 * in + 4.0 * out;
        String kernel = group > 0 ? (f16 ? "gemvF16Group" : "gemvF32Group") : (f16 ? "gemvF16Rows" : "gemvF32Rows16");
        return new DeviceCase(d, f16 ? "gemv f16" : "gemv f32", out + "x" + in + " (" + origin + ")", bytes,
                2.0 * out * in, Roofline.READ_BW, group > 0 ? kernel : null, (r, a) -> {
                    Buffer w = f16 ? a.f16("w", (long) out * in) : a.f32("w", (long) out * in);
                    Buffer x = a.f32("x", in);
                    Buffer y = a.f32("y", out);
                    if (group > 0) {
                        Grid g = GemvGeometry.rowGroups(out, group);
                        return () -> r.run(GemvKernels.class, kernel, g, w, x, y, out, in, group);
                    }
                    Grid g = elementGrid(out);
                    return () -> r.run(GemvKernels.class, kernel, g, w, x, y, out, in);
                });
    }

    /**
     * Q8_0/Q4_0 GEMV with F32 activations. {@code kernel} {@code gemvSplit}: the kernel the graph op launches on CPU
     * devices (one item per row on {@link SplitBlocks}, split once at setup, outside the timing);
     * {@code gemvSplitGroup}: the one it launches on GPUs, {@code group} items per row; {@code block}: the
     * block-layout kernels ({@code q8Gemv}/{@code q4Gemv}) for comparison. The kernel's name is in the impl column.
     * Named and counted as {@code QuantBenchCases} names and counts its F32-activation GEMV (bytes of ggml's blocks),
     * so they pair.
     */
    static DeviceCase quantGemv(Device d, QuantBenchCases.Format f, QuantBenchCases.Shape s, String kernel,
            int group) {
        int in = s.in();
        int rows = s.out();
        boolean q8 = f == QuantBenchCases.Format.Q8_0;
        double bytes = (double) f.rowBytes(in) * rows + 4.0 * in + 4.0 * rows;
        String op = "gemv " + f.name().toLowerCase() + " x f32";
        String shape = in + "x" + rows + " (" + s.what() + ")";
        String name = kernel.equals("block") ? (q8 ? "q8Gemv" : "q4Gemv") : kernel;
        return new DeviceCase(d, op, shape, bytes, 2.0 * rows * in, Roofline.READ_BW, name, (r, a) -> {
            Buffer x = a.f32("x", in);
            Buffer y = a.f32("y", rows);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment blocks = QuantBenchCases.syntheticWeights(arena, f, rows, in);
                if (!kernel.equals("block")) {
                    SplitBlocks sb = q8 ? SplitBlocks.q8_0(blocks, 0, rows, in) : SplitBlocks.q4_0(blocks, 0, rows, in);
                    Buffer q = a.adopt(sb.quants());
                    Buffer sc = a.adopt(sb.scales());
                    int bits = q8 ? 8 : 4;
                    if (kernel.equals("gemvSplitGroup")) {
                        Grid g = GemvGeometry.rowGroups(rows, group);
                        return () -> r.run(SplitGemvKernels.class, kernel, g, q, sc, x, y, rows, in, bits, group);
                    }
                    Grid g = elementGrid(rows);
                    return () -> r.run(SplitGemvKernels.class, kernel, g, q, sc, x, y, rows, in, bits);
                }
                Buffer w = a.bytes("w", q8 ? DType.I8 : DType.U8, blocks);
                Grid g = elementGrid(rows);
                return () -> r.run(QuantKernels.class, name, g, w, x, y, rows, in);
            }
        });
    }

    /** RMSNorm per row. Buffers {@code x, w, y}. */
    static DeviceCase rms(Device d, int rows, int dim, String shape) {
        long n = (long) rows * dim;
        return new DeviceCase(d, "rmsnorm", shape, 4.0 * (2 * n + dim), 4.0 * n, Roofline.TRIAD_BW, (r, a) -> {
            Buffer x = a.f32("x", n);
            Buffer w = a.f32("w", dim);
            Buffer y = a.f32("y", n);
            Grid g = rowGroups(rows);
            return () -> r.run(NormKernels.class, "rmsNorm", g, x, w, y, dim, 1e-5f, GROUP);
        });
    }

    /** Softmax per row, scale 1. Buffers {@code x, y}. */
    static DeviceCase softmax(Device d, int rows, int dim, String shape) {
        long n = (long) rows * dim;
        return new DeviceCase(d, "softmax", shape, 8.0 * n, 30.0 * n, Roofline.TRIAD_BW, (r, a) -> {
            Buffer x = a.f32("x", n);
            Buffer y = a.f32("y", n);
            Grid g = rowGroups(rows);
            return () -> r.run(ActivationKernels.class, "softmax", g, x, y, dim, 1f, GROUP);
        });
    }

    /**
     * RoPE in place on q then k from cos/sin tables ({@code ropeTable}, two launches), tokens at positions 1000 on.
     * Buffers {@code q, k, cos, sin}.
     */
    static DeviceCase rope(Device d, int tokens, int heads, int kvHeads, int headDim, RopeLayout layout,
            String shape) {
        long q = (long) tokens * heads * headDim;
        long kk = (long) tokens * kvHeads * headDim;
        long tablePerToken = layout == RopeLayout.HALF_SPLIT ? headDim : 2L * headDim;
        double bytes = 4.0 * (2 * (q + kk) + tokens * tablePerToken);
        int pos = 1000;
        return new DeviceCase(d, "rope " + layout.name().toLowerCase(java.util.Locale.ROOT), shape, bytes,
                3.0 * (q + kk), Roofline.TRIAD_BW, (r, a) -> {
                    Buffer qb = a.f32("q", q);
                    Buffer kb = a.f32("k", kk);
                    RopeTable table = new RopeTable(pos + tokens, headDim, 5e5, layout);
                    int half = headDim / 2;
                    float[] cos = new float[(pos + tokens) * half];
                    float[] sin = new float[(pos + tokens) * half];
                    for (int p = 0; p < pos + tokens; p++) {
                        for (int i = 0; i < half; i++) {
                            cos[p * half + i] = table.cos(p, i);
                            sin[p * half + i] = table.sin(p, i);
                        }
                    }
                    Buffer cb = a.f32("cos", cos);
                    Buffer sb = a.f32("sin", sin);
                    int halfSplit = layout == RopeLayout.HALF_SPLIT ? 1 : 0;
                    Grid gq = elementGrid(tokens * heads * half);
                    Grid gk = elementGrid(tokens * kvHeads * half);
                    return () -> r.run(RopeKernels.class, "ropeTable", gq, qb, cb, sb, tokens, heads, headDim, pos,
                            halfSplit)
                            + r.run(RopeKernels.class, "ropeTable", gk, kb, cb, sb, tokens, kvHeads, headDim, pos,
                            halfSplit);
                });
    }

    /** {@code out = silu(gate)·up}. Buffers {@code gate, up, out}. */
    static DeviceCase swiglu(Device d, int n, String shape) {
        return new DeviceCase(d, "swiglu", shape, 12.0 * n, 31.0 * n, Roofline.TRIAD_BW, (r, a) -> {
            Buffer gate = a.f32("gate", n);
            Buffer up = a.f32("up", n);
            Buffer out = a.f32("out", n);
            Grid g = elementGrid(n);
            return () -> r.run(ActivationKernels.class, "swiGlu", g, gate, up, out, n);
        });
    }

    /** {@code out = a + b}. Buffers {@code a, b, out}. */
    static DeviceCase residual(Device d, int n, String shape) {
        return new DeviceCase(d, "residual add", shape, 12.0 * n, n, Roofline.TRIAD_BW, (r, a) -> {
            Buffer x = a.f32("a", n);
            Buffer y = a.f32("b", n);
            Buffer out = a.f32("out", n);
            Grid g = elementGrid(n);
            return () -> r.run(ActivationKernels.class, "residualAdd", g, x, y, out, n);
        });
    }

    /** Index of the first maximum, one work group. Buffers {@code x, index}. */
    static DeviceCase argmax(Device d, int n) {
        String shape = n == VOCAB ? "128256 (Llama-3 vocab)" : String.valueOf(n);
        return new DeviceCase(d, "argmax", shape, 4.0 * n, n, Roofline.READ_BW, (r, a) -> {
            Buffer x = a.f32("x", n);
            Buffer index = a.i32("index", 1);
            Grid g = Grid.of1(GROUP, GROUP);
            return () -> r.run(SamplingKernels.class, "argmax", g, x, index, n, GROUP);
        });
    }
}
