package dev.gale.bench.quant;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.Roofline;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.quant.BlockMatmul;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q4_0Matmul;
import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.Q8Activations;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.kernels.quant.Q8_0Matmul;
import dev.gale.kernels.quant.Q8_0Lanes;
import dev.gale.kernels.quant.QuantMatMulOp;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Report cases for the quant family: Q8_0 and Q4_0 GEMV (decode) and GEMM (prefill, 512 tokens) at Llama-3.2-1B and
 * Llama-3-8B projection shapes, with Q8 activations (quantization included in the timed run, as a decode step pays
 * it) and with F32 activations. Weights are synthetic: speed does not depend on their values.
 *
 * <p>GEMV runs twice: {@code impl} "packed" is the decode path (on Q8 activations {@link Q4_0Lanes} and
 * {@link Q8_0Lanes}, quantizing inside, as the decoder calls them; on F32 ones {@link Q4_0Packed} and, for Q8_0, the
 * decoder's {@link QuantMatMulOp}; weights repacked once in setup); "ggml layout" is the previous variant ({@link Q4_0Matmul}/{@link Q8_0Matmul} reading
 * llama.cpp's blocks directly), kept beside it as the baseline. GEMM runs on the ggml-layout tiles.
 *
 * <p>{@link BenchCase#bytes()} counts what one run reads and writes: the quantized weights, the F32 activations
 * (read once, by the quantizer or the kernel) and the F32 output. {@link BenchCase#flops()} is {@code 2·out·in·tokens}.
 */
public final class QuantBenchCases implements BenchCaseProvider {
    /** A projection: in → out, and where it comes from. */
    public record Shape(int in, int out, String what) {
    }

    public static final Shape L1B_UP = new Shape(2048, 8192, "Llama-3.2-1B ffn_up");
    static final Shape L1B_DOWN = new Shape(8192, 2048, "Llama-3.2-1B ffn_down");
    public static final Shape L8B_UP = new Shape(4096, 14336, "Llama-3-8B ffn_up");
    static final Shape L8B_DOWN = new Shape(14336, 4096, "Llama-3-8B ffn_down");
    /** 126 MiB of Q4_0 weights: far past the caches, the size the PoCL comparison is judged at. */
    public static final Shape Q4_128MIB = new Shape(16384, 14336, "126 MiB of Q4_0");

    @Override
    public List<BenchCase> cases(boolean quick) {
        List<BenchCase> cases = new ArrayList<>();
        if (quick) {
            for (Format f : Format.values()) {
                for (boolean packed : new boolean[] {true, false}) {
                    cases.add(new QuantCase(f, true, L1B_UP, 1, packed));
                    cases.add(new QuantCase(f, false, L1B_UP, 1, packed));
                }
            }
            return cases;
        }
        for (Shape s : new Shape[] {L1B_UP, L1B_DOWN, L8B_UP, L8B_DOWN}) {
            for (Format f : Format.values()) {
                for (boolean packed : new boolean[] {true, false}) {
                    cases.add(new QuantCase(f, true, s, 1, packed));
                    cases.add(new QuantCase(f, false, s, 1, packed));
                }
            }
        }
        cases.add(new QuantCase(Format.Q4_0, false, Q4_128MIB, 1, true));
        cases.add(new QuantCase(Format.Q4_0, false, Q4_128MIB, 1, false));
        for (Format f : Format.values()) {
            cases.add(new QuantCase(f, true, L8B_UP, 512, false));
            cases.add(new QuantCase(f, false, L8B_UP, 512, false));
        }
        return cases;
    }

    /** The two weight formats. */
    public enum Format {
        Q8_0, Q4_0;

        public long rowBytes(int in) {
            return this == Q8_0 ? dev.gale.kernels.quant.Q8_0.rowBytes(in) : dev.gale.kernels.quant.Q4_0.rowBytes(in);
        }

        int blockBytes() {
            return this == Q8_0 ? dev.gale.kernels.quant.Q8_0.BLOCK_BYTES : dev.gale.kernels.quant.Q4_0.BLOCK_BYTES;
        }
    }

    /** Synthetic weights: pseudo-random quant bytes, and a small valid fp16 scale in every block. */
    public static MemorySegment syntheticWeights(Arena arena, Format f, int rows, int in) {
        long bytes = f.rowBytes(in) * rows;
        MemorySegment w = arena.allocate(bytes, 64);
        long state = 0x9E3779B97F4A7C15L;
        for (long o = 0; o + 8 <= bytes; o += 8) {
            state = state * 6364136223846793005L + 1442695040888963407L;
            w.set(ValueLayout.JAVA_LONG_UNALIGNED, o, state);
        }
        short scale = Float.floatToFloat16(0x1p-8f);
        ValueLayout.OfShort h = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (long o = 0; o < bytes; o += f.blockBytes()) {
            w.set(h, o, scale);
        }
        return w;
    }

    /** {@code tokens × in} F32 activations, {@code sin(0.37·i)}: the same input in every GEMV bench. */
    public static MemorySegment syntheticActivations(Arena arena, int tokens, int in) {
        MemorySegment x = arena.allocate(4L * tokens * in, 64);
        for (long i = 0; i < (long) tokens * in; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i * 0.37));
        }
        return x;
    }

    /**
     * {@code tokens × in} N(0, 1) activations from a fixed seed: nearer a decode's activations than
     * {@link #syntheticActivations}, so most Q8 blocks let the 4-bit row-lane kernel sum a whole block in 16 bits.
     */
    public static MemorySegment gaussianActivations(Arena arena, int tokens, int in) {
        MemorySegment x = arena.allocate(4L * tokens * in, 64);
        java.util.Random random = new java.util.Random(7);
        for (long i = 0; i < (long) tokens * in; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian());
        }
        return x;
    }

    /**
     * One format × activation type × shape × token count × layout, all rows over the shared worker pool. Packing
     * happens in setup (a load-time cost), so the timed run is the decode GEMV alone; {@link #bytes()} still counts
     * the ggml-format weight bytes for both layouts, so the two compare by time. The packed copy is larger (F32 scales:
     * 20 bytes per Q4_0 block against 18, 36 per Q8_0 block against 34, plus padding to 4 rows): its kernels stream
     * up to 11 % more bytes than counted.
     */
    static final class QuantCase implements BenchCase {
        private final Format format;
        private final boolean q8;
        private final Shape shape;
        private final int tokens;
        private final boolean packed;
        private Arena arena;
        private Q4_0Packed p4;
        private Q4_0Lanes l4;
        /** Q8_0 on F32 activations: the decoder's op, packed in the layout this machine decodes from. */
        private QuantMatMulOp op8;
        private Q8_0Lanes l8;
        private MemorySegment w;
        private MemorySegment x;
        private MemorySegment y;
        private Q8Activations xq;

        QuantCase(Format format, boolean q8, Shape shape, int tokens, boolean packed) {
            this.packed = packed;
            this.format = format;
            this.q8 = q8;
            this.shape = shape;
            this.tokens = tokens;
        }

        @Override
        public String op() {
            return (tokens == 1 ? "gemv " : "gemm ") + format.name().toLowerCase() + (q8 ? " x q8" : " x f32");
        }

        @Override
        public String shape() {
            return (tokens == 1 ? "" : tokens + "x") + shape.in() + "x" + shape.out() + " (" + shape.what() + ")";
        }

        @Override
        public String impl() {
            return (packed ? "packed " : "ggml layout ") + BlockMatmul.path() + " x" + WorkerPool.shared().threads();
        }

        @Override
        public double bytes() {
            return (double) format.rowBytes(shape.in()) * shape.out() + 4.0 * tokens * shape.in()
                    + 4.0 * tokens * shape.out();
        }

        @Override
        public double flops() {
            return 2.0 * shape.out() * shape.in() * tokens;
        }

        @Override
        public Roofline roofline() {
            return tokens == 1 ? Roofline.READ_BW : Roofline.FMA_PEAK;
        }

        @Override
        public void setup() {
            arena = Arena.ofShared();
            w = syntheticWeights(arena, format, shape.out(), shape.in());
            x = syntheticActivations(arena, tokens, shape.in());
            y = arena.allocate(4L * tokens * shape.out(), 64);
            if (packed && format == Format.Q8_0 && q8) {
                l8 = Q8_0Lanes.pack(w, 0, shape.out(), shape.in(), arena);
            } else if (packed && format == Format.Q8_0) {
                op8 = QuantMatMulOp.q8_0(w, 0, shape.out(), shape.in(), arena);
            } else if (packed && q8) {
                l4 = Q4_0Lanes.pack(w, 0, shape.out(), shape.in(), arena);
            } else if (packed) {
                p4 = Q4_0Packed.pack(w, 0, shape.out(), shape.in(), arena);
            }
            if (q8 && !packed) {
                xq = new Q8Activations(arena.allocate(Q8Activations.scratchBytes(tokens, shape.in()), 64), 0, tokens,
                        shape.in());
            }
        }

        @Override
        public void run() {
            int in = shape.in();
            int out = shape.out();
            if (packed) {
                if (q8) {
                    if (l8 != null) {
                        l8.matmulQ8Parallel(x, 0, tokens, y, 0);
                    } else {
                        l4.matmulQ8Parallel(x, 0, tokens, y, 0);
                    }
                } else if (op8 != null) {
                    op8.matmul(x, 0, tokens, y, 0);
                } else {
                    p4.matmulF32Parallel(x, 0, tokens, y, 0);
                }
            } else if (q8) {
                xq.quantize(x, 0, tokens);
                if (format == Format.Q8_0) {
                    Q8_0Matmul.INSTANCE.matmulParallel(w, 0, out, in, xq, y, 0);
                } else {
                    Q4_0Matmul.INSTANCE.matmulParallel(w, 0, out, in, xq, y, 0);
                }
            } else if (format == Format.Q8_0) {
                Q8_0Matmul.INSTANCE.matmulF32Parallel(w, 0, out, in, x, 0, tokens, y, 0);
            } else {
                Q4_0Matmul.INSTANCE.matmulF32Parallel(w, 0, out, in, x, 0, tokens, y, 0);
            }
        }

        @Override
        public void close() {
            if (arena != null) {
                arena.close();
                arena = null;
                p4 = null;
                l4 = null;
                l8 = null;
            }
        }
    }
}
