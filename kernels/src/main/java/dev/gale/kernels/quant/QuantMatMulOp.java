package dev.gale.kernels.quant;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.gemm.GemmBlockScaled;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp;
import dev.gale.kernels.gemm.GemvGeometry;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.ref.Cleaner;
import java.util.List;

/**
 * {@code Y = X·Wᵀ} with Q8_0 or Q4_0 weights as a graph launch: arguments
 * {@code (W [out, rowBytes] in ggml's block layout (I8 for Q8_0, U8 for Q4_0), X [tokens, in] F32, Y [tokens, out] F32)}.
 *
 * <p>One op belongs to one weight matrix: it holds that matrix repacked once into Gale's decode layout
 * (row lanes on Q8 activations, {@link Q8_0Lanes} / {@link Q4_0Lanes}, or an F32-activation layout), which the
 * Vector API path reads, while the scalar reference and the
 * device GEMM read the block-layout buffer bound as {@code W} (the load format, which a device receives as is).
 * The device GEMV (one token) reads {@link SplitBlocks}, split from the bound {@code W} on the first kernel run and
 * kept (a host repack: 20 bytes per Q4_0 block instead of 18, 36 per Q8_0 block instead of 34); CPU-only use never
 * builds it. All are the same weights by construction: the loader packs from the buffer it binds.
 */
public final class QuantMatMulOp extends KernelOp {
    private static final Cleaner CLEANER = Cleaner.create();

    /**
     * From this many tokens on, the CPU path of an F32-activation op is the GEMM over dequantized panels
     * ({@link PackedPanels}) instead of the decode kernel run per token: decoding a panel once per prompt is then
     * cheaper than the GEMV's per-token unpacking ({@code -Dgale.quant.gemmTokens} overrides both switches). Measured
     * on Zen 3 at 2048×8192 Q4_0, CPU time per call, GEMM ÷ per-token decode kernel: 0.5× at 16 tokens, 0.83× at 32,
     * 1.33× at 64, 1.8× at 128, 3.3× at 512.
     */
    static final int GEMM_TOKENS = Math.max(1, Integer.getInteger("gale.quant.gemmTokens", 48));
    /**
     * The same switch for the row-lane ops (Q8 activations), whose panels decode a vector of rows per load
     * ({@code BlockScaledCodec.decodeColumns}), so the GEMM wins sooner. AVX-512 Xeon, 2026-11-28, 2048→8192, two
     * threads, three runs of {@code LanesGemmCrossover}, GEMM ÷ per-token lanes: Q8_0 0.72–0.83 at 12 tokens,
     * 0.84–0.95 at 16, 0.65–0.74 at 20, 0.61–0.62 at 24, 0.51 at 48; Q4_0 0.89–0.99, 0.92–1.11, 0.82–0.92, 0.74–0.76,
     * 0.61.
     */
    static final int LANES_GEMM_TOKENS = Math.max(1, Integer.getInteger("gale.quant.gemmTokens", 20));
    /**
     * Q4_0 decode on Q8 activations wherever the vector kernels run (256 and 512 bits), on F32 ones elsewhere;
     * {@code -Dgale.q4.activations=q8|f32} chooses (see {@link #q4_0(MemorySegment, long, int, int, SegmentAllocator)}
     * for the measurements).
     */
    private static final boolean Q4_Q8_ACTIVATIONS = "q8".equals(System.getProperty("gale.q4.activations",
            QuantVectors.VECTOR_OK ? "q8" : "f32"));
    /**
     * Q8_0 decode on Q8 activations in row lanes ({@link Q8_0Lanes}) wherever the vector kernels run, on F32 ones
     * elsewhere; {@code -Dgale.q8.activations=q8|f32} chooses (see
     * {@link #q8_0(MemorySegment, long, int, int, SegmentAllocator)}).
     */
    private static final boolean Q8_Q8_ACTIVATIONS = "q8".equals(System.getProperty("gale.q8.activations",
            QuantVectors.VECTOR_OK ? "q8" : "f32"));
    /**
     * Q8_0 decode on F32 activations: on llama.cpp's blocks as they are ({@link Q8_0Blocks}, copied once) where the
     * JVM's vectors are 512 bits wide, on the 4-row layout ({@link Q8_0Packed}) below;
     * {@code -Dgale.q8.layout=blocks|packed} chooses. On the AVX-512 Xeon the blocks ran 1.34× the 4-row layout over a
     * 1B step's GEMVs (see {@link Q8_0Blocks}).
     */
    private static final boolean Q8_BLOCKS = "blocks".equals(System.getProperty("gale.q8.layout",
            QuantVectors.VECTOR_OK && QuantVectors.L >= 16 ? "blocks" : "packed"));

    /** What the CPU path needs of a packed weight: {@code Y = X·Wᵀ} for F32 X of some tokens. */
    private interface Kernel {
        void run(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff);
    }

    private final boolean q4;
    /** Whether the decode path quantizes activations to Q8 (unless {@code -Dgale.q4|q8.activations=f32}). */
    private final boolean q8Activations;
    private final int rows;
    private final int in;
    private final Kernel decode;
    private final Kernel prefill;
    /** What the decode kernel is, for the run report. */
    private final String decodeKernel;
    /** From this many tokens on the CPU path is the GEMM ({@link #GEMM_TOKENS} or {@link #LANES_GEMM_TOKENS}). */
    private final int gemmTokens;
    /** The device GEMV's layout, split from {@code W} on first use; freed with the op. */
    private volatile SplitBlocks split;

    private QuantMatMulOp(boolean q4, boolean q8Activations, int rows, int in, Kernel decode, Kernel prefill,
            String decodeKernel) {
        this.q4 = q4;
        this.q8Activations = q8Activations;
        this.rows = rows;
        this.in = in;
        this.decode = decode;
        this.prefill = prefill;
        this.decodeKernel = decodeKernel;
        this.gemmTokens = q8Activations ? LANES_GEMM_TOKENS : GEMM_TOKENS;
    }

    /**
     * Packs Q8_0 weights ({@code rows} llama.cpp rows at {@code wOff}) into the layout this machine's decode path
     * reads, and returns the op over them. A few tokens quantize their activations to Q8 per block of 32, as
     * llama.cpp does, and run the row-lane kernel ({@link Q8_0Lanes}) wherever the vector kernels run; elsewhere, or
     * with {@code -Dgale.q8.activations=f32}, they run on F32 activations ({@link #Q8_BLOCKS}). On the AVX-512 Xeon
     * (2026-11-28, {@code DecodeGemvSweep 24 q8_0}, a 1B step's 113 GEMVs from DRAM, variants alternated step by step)
     * the row lanes took 79.7 ms per step against 94.1 for the blocks; as {@code -XX:UseAVX=2}, 111.5 against 154.9 for
     * the 4-row layout (the F32 default there) and 115.9 for the blocks. Q8 activations add their rounding, at most
     * half a Q8 step per element, which the cross-device suite bounds as such.
     */
    public static QuantMatMulOp q8_0(MemorySegment w, long wOff, int rows, int in, SegmentAllocator allocator) {
        if (Q8_Q8_ACTIVATIONS) {
            return q8_0(Q8_0Lanes.pack(w, wOff, rows, in, allocator));
        }
        return Q8_BLOCKS ? q8_0(Q8_0Blocks.copy(w, wOff, rows, in, allocator))
                : q8_0(Q8_0Packed.pack(w, wOff, rows, in, allocator));
    }

    /** Q8_0 on Q8 activations, in row lanes ({@link Q8_0Lanes}). */
    public static QuantMatMulOp q8_0(Q8_0Lanes w) {
        return new QuantMatMulOp(false, true, w.rows(), w.in(), w::matmulQ8Parallel, (x, xOff, t, y, yOff) ->
                GemmBlockScaled.gemmDequantized(PackedPanels.Q8_0_LANES, w, x, xOff, y, yOff, t, w.rows(), w.in()),
                "row lanes of 16-bit integers, activations quantized to Q8");
    }

    /** Q8_0 on F32 activations, 4-row layout ({@link Q8_0Packed}). */
    public static QuantMatMulOp q8_0(Q8_0Packed w) {
        return new QuantMatMulOp(false, false, w.rows(), w.in(), w::matmulF32Parallel, (x, xOff, t, y, yOff) ->
                GemmBlockScaled.gemmDequantized(PackedPanels.Q8_0, w, x, xOff, y, yOff, t, w.rows(), w.in()),
                "4-row layout, F32 activations");
    }

    /** Q8_0 on F32 activations, llama.cpp's block layout ({@link Q8_0Blocks}). */
    public static QuantMatMulOp q8_0(Q8_0Blocks w) {
        return new QuantMatMulOp(false, false, w.rows(), w.in(), w::matmulF32Parallel, (x, xOff, t, y, yOff) ->
                GemmBlockScaled.gemmDequantized(PackedPanels.Q8_0_BLOCKS, w, x, xOff, y, yOff, t, w.rows(), w.in()),
                "llama.cpp's block layout, F32 activations");
    }

    /**
     * Packs Q4_0 weights ({@code rows} llama.cpp rows at {@code wOff}) into the layout this machine's decode path
     * reads, and returns the op over them. A few tokens either quantize their activations to Q8 per block of 32, as
     * llama.cpp does, and run the row-lane kernel ({@link Q4_0Lanes}), or run the F32-activation kernel
     * ({@link Q4_0Packed}). The default is Q8 activations wherever the vector kernels run
     * ({@code -Dgale.q4.activations=q8|f32} overrides):
     * <ul>
     * <li>AVX-512, Intel Xeon: the row-lane kernel, quantization included, ran 1.67× the F32 kernel from DRAM on one
     * thread (thread CPU time, 8192×2048) and 1.10× the 4-row 16-bit kernel it replaced over a 1B model's decode GEMVs
     * on two threads (2026-11-28); that 16-bit kernel had been 2.4× the F32 one alone.
     * <li>AVX2, measured as {@code -XX:UseAVX=2} on that Xeon: with one memory stream per thread the row lanes tied
     * the F32 kernel (4.35 against 4.37 GB/s on one thread), so F32 activations stayed the default there; with four
     * streams ({@link Q4_0Lanes}) they ran a 1B step's GEMVs 1.6× faster ({@code DecodeGemvSweep}) and the 1B decode
     * table's w1 1.17–1.30× faster (13.4 / 10.6 against 10.5 / 10.1 tok/s, runs alternated, 2026-11-28). On AMD Zen 3
     * the 4-row 16-bit kernel had lost to F32 inside the 1B decode table; the row lanes are not measured there.
     * </ul>
     * Q8 activations add their rounding, at most half a Q8 step per element, which the cross-device suite bounds as
     * such. The report names the kernel that ran.
     */
    public static QuantMatMulOp q4_0(MemorySegment w, long wOff, int rows, int in, SegmentAllocator allocator) {
        return Q4_Q8_ACTIVATIONS ? q4_0(Q4_0Lanes.pack(w, wOff, rows, in, allocator))
                : q4_0(Q4_0Packed.pack(w, wOff, rows, in, allocator));
    }

    /** Q4_0 on F32 activations ({@link Q4_0Packed}). */
    public static QuantMatMulOp q4_0(Q4_0Packed w) {
        return new QuantMatMulOp(true, false, w.rows(), w.in(), w::matmulF32Parallel, (x, xOff, t, y, yOff) ->
                GemmBlockScaled.gemmDequantized(PackedPanels.Q4_0, w, x, xOff, y, yOff, t, w.rows(), w.in()),
                "4-row layout, F32 activations");
    }

    /** Q4_0 on Q8 activations, in row lanes ({@link Q4_0Lanes}). */
    public static QuantMatMulOp q4_0(Q4_0Lanes w) {
        return new QuantMatMulOp(true, true, w.rows(), w.in(), w::matmulQ8Parallel, (x, xOff, t, y, yOff) ->
                GemmBlockScaled.gemmDequantized(PackedPanels.Q4_0_LANES, w, x, xOff, y, yOff, t, w.rows(), w.in()),
                "row lanes of 16-bit integers, activations quantized to Q8");
    }

    /** Whether the Vector API path quantizes {@code tokens} tokens' activations to Q8 (the Q4_0 decode path). */
    public boolean quantizesActivations(int tokens) {
        return q8Activations && tokens < gemmTokens;
    }

    /** From how many tokens on the Vector API path runs the GEMM over dequantized panels instead of the decode kernel. */
    public int gemmTokens() {
        return gemmTokens;
    }

    @Override
    public String detail(Device device, List<Arg> args) {
        long tokens = ((TensorParam) args.get(1)).desc().dim(0);
        if (!(device instanceof CpuDevice)) {
            int group = GemvGeometry.groupPerRow(device);
            return "device kernel: " + kernel(tokens, group) + " "
                    + (tokens != 1 ? "(4-token register tiles)" : GemvGeometry.describe(group));
        }
        return "vector-api path: " + tokens + (tokens == 1 ? " token → " : " tokens → ") + (tokens >= gemmTokens
                ? "GEMM over dequantized F32 panels" : "packed decode kernel (GEMV per token, " + decodeKernel + ")");
    }

    @Override
    public String name() {
        return q4 ? "matmul_q4_0" : "matmul_q8_0";
    }

    /** The byte type the device kernels view the blocks as: Q8_0 as signed bytes, Q4_0 as unsigned. */
    public DType blockType() {
        return q4 ? DType.U8 : DType.I8;
    }

    private long rowBytes() {
        return q4 ? Q4_0.rowBytes(in) : Q8_0.rowBytes(in);
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(W [out, rowBytes] block bytes, X [tokens, in], Y [tokens, out])");
        TensorDesc w = tensor(args, 0, "W", blockType());
        TensorDesc x = tensor(args, 1, "X", DType.F32);
        TensorDesc y = tensor(args, 2, "Y", DType.F32);
        require(w.rank() == 2 && w.dim(0) == rows && w.dim(1) == rowBytes(), "W " + w + " must be [" + rows + ", "
                + rowBytes() + "] bytes: the block layout of the " + rows + "x" + in + " weight this op packed");
        require(x.rank() == 2 && x.dim(1) == in, "X " + x + " must be [tokens, " + in + "]");
        require(y.rank() == 2 && y.dim(0) == x.dim(0) && y.dim(1) == rows, "Y " + y + " must be [" + x.dim(0) + ", "
                + rows + "]");
    }

    private int tokens(LaunchContext ctx) {
        return (int) ctx.desc(1).dim(0);
    }

    @Override
    protected void vector(LaunchContext ctx) {
        matmul(ctx.segment(1), 0, tokens(ctx), ctx.segment(2), 0);
    }

    /**
     * The Vector API path on plain memory, as a launch runs it: {@code Y [tokens, out] = X [tokens, in]·Wᵀ} over the
     * packed weights, the GEMM over dequantized panels from {@link #gemmTokens()} tokens on (the cross-device suite
     * checks this, the path a model runs).
     */
    public void matmul(MemorySegment x, long xOff, int tokens, MemorySegment y, long yOff) {
        (tokens >= gemmTokens ? prefill : decode).run(x, xOff, tokens, y, yOff);
    }

    @Override
    protected void reference(LaunchContext ctx) {
        if (q4) {
            Q4_0Matmul.INSTANCE.referenceF32(ctx.segment(0), 0, rows, in, ctx.segment(1), 0, tokens(ctx), ctx.segment(2), 0);
        } else {
            Q8_0Matmul.INSTANCE.referenceF32(ctx.segment(0), 0, rows, in, ctx.segment(1), 0, tokens(ctx), ctx.segment(2), 0);
        }
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    /**
     * The device kernel for a token count; {@code group} is {@link GemvGeometry}'s choice for the device (0: one
     * item per row). The launches and the report both take the name from here.
     */
    private String kernel(long tokens, int group) {
        if (tokens != 1) {
            return q4 ? "q4Gemm" : "q8Gemm";
        }
        return group > 0 ? "gemvSplitGroup" : "gemvSplit";
    }

    /** One token on a GPU: a work group per row of the split layout ({@link GemvGeometry}). */
    @Override
    protected Iterable<KernelCall> kernelCalls(Device device, LaunchContext ctx) {
        int group = GemvGeometry.groupPerRow(device);
        if (group == 0 || tokens(ctx) != 1) {
            return kernelCalls(ctx);
        }
        SplitBlocks s = split(ctx);
        return List.of(new KernelCall(SplitGemvKernels.class, kernel(1, group), GemvGeometry.rowGroups(rows, group),
                s.quants(), s.scales(), ctx.buffer(1), ctx.buffer(2), rows, in, q4 ? 4 : 8, group));
    }

    /**
     * One token: one item per row on the split layout ({@link SplitGemvKernels}); more: the four-token register tile
     * of the block kernels.
     */
    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int tokens = tokens(ctx);
        if (tokens == 1) {
            SplitBlocks s = split(ctx);
            return List.of(new KernelCall(SplitGemvKernels.class, kernel(1, 0), elementGrid(rows), s.quants(),
                    s.scales(), ctx.buffer(1), ctx.buffer(2), rows, in, q4 ? 4 : 8));
        }
        Grid grid = Grid.of2((rows + 15) / 16 * 16, (tokens + 3) / 4, 16, 1);
        return List.of(new KernelCall(QuantKernels.class, kernel(tokens, 0), grid, ctx.buffer(0),
                ctx.buffer(1), ctx.buffer(2), rows, in, tokens));
    }

    /** The split layout of the bound {@code W}, built once (the op's weights never change). */
    private SplitBlocks split(LaunchContext ctx) {
        SplitBlocks s = split;
        if (s == null) {
            synchronized (this) {
                s = split;
                if (s == null) {
                    MemorySegment w = ctx.segment(0);
                    s = q4 ? SplitBlocks.q4_0(w, 0, rows, in) : SplitBlocks.q8_0(w, 0, rows, in);
                    // The op has no close: free the copy when the op becomes unreachable.
                    CLEANER.register(this, s::close);
                    split = s;
                }
            }
        }
        return s;
    }
}
