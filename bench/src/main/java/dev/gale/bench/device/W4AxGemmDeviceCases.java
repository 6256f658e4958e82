package dev.gale.bench.device;

import dev.gale.bench.Roofline;
import dev.gale.bench.w4a4.W4AxBenchCases;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.gemm.GemmKernels;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.W4AxKernels;
import dev.gale.kernels.quant.W4Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Issue 6's W4A4 GEMM against the F32 GEMM on a device (PoCL here): the two device kernels at one prefill shape,
 * named so that the report lists them side by side. The shape is small ({@link #TOKENS} × {@link #IN} →
 * {@link #OUT}) because PoCL runs the tiled F32 GEMM at well under a GFLOP/s on this machine; the CPU cases use
 * 512×4096×4096. The W4A4 activations are quantized once at setup (the device path has no activation quantizer), so
 * the W4A4 time is its matmul alone.
 */
final class W4AxGemmDeviceCases {
    static final int TOKENS = 64;
    static final int IN = 1024;
    static final int OUT = 1024;
    /** The F32 GEMM's tile, as {@code MatMulOp} launches it. */
    private static final int TILE_X = 16;
    private static final int TILE_Y = 4;
    private static final int TILE_K = 16;

    private W4AxGemmDeviceCases() {
    }

    static String shape(int tokens, int in, int out) {
        return tokens + "x" + in + "x" + out + " (device-sized prefill)";
    }

    /** The activations the W4A4 case quantizes: {@code sin(0.37·i)}, F32 {@code [tokens][in]}. */
    static MemorySegment activations(Arena arena, int tokens, int in) {
        MemorySegment x = arena.allocate(4L * tokens * in, 64);
        for (long i = 0; i < (long) tokens * in; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i * 0.37));
        }
        return x;
    }

    /**
     * {@code w4axGemm}, one item per (row, token), A4 activations and W4 weights in group 128
     * ({@link W4AxBenchCases#syntheticW4}). Buffers {@code wc, ws, ac, as, y}.
     */
    static DeviceCase w4a4(Device d, int tokens, int in, int out) {
        double bytes = (double) out * in / 2 + 4.0 * out * (in / W4Weights.BLOCK) + (double) tokens * in
                + 4.0 * tokens * out;
        return new DeviceCase(d, "w4ax gemm w4a4 (matmul)", shape(tokens, in, out), bytes, 2.0 * tokens * in * out,
                Roofline.FMA_PEAK, "w4axGemm", (r, a) -> {
                    // shared: the quantizer splits 16 tokens or more over the worker pool
                    try (Arena arena = Arena.ofShared()) {
                        W4Weights w = W4AxBenchCases.syntheticW4(arena, out, in);
                        ActivationQuant q = ActivationQuant.allocate(tokens, in, ActivationQuant.uniform(in, false),
                                arena);
                        q.quantize(activations(arena, tokens, in), 0, tokens);
                        Buffer wc = a.bytes("wc", DType.U8, w.codes());
                        Buffer ws = a.f32("ws", floats(w.scales()));
                        Buffer ac = a.bytes("ac", DType.I8, q.codes().asSlice(0, (long) tokens * in));
                        Buffer as = a.f32("as", floats(q.scales().asSlice(0, 4L * tokens * q.blocks())));
                        Buffer y = a.f32("y", (long) tokens * out);
                        Grid g = Grid.of2((out + 15) / 16 * 16, (tokens + 3) / 4 * 4, 16, 4);
                        return () -> r.run(W4AxKernels.class, "w4axGemm", g, wc, ws, ac, as, y, out, in,
                                W4Weights.BLOCK, tokens);
                    }
                });
    }

    /** {@code gemmF32Tiled} at the same shape and tile as the graph op's prefill launch. Buffers {@code w, x, y}. */
    static DeviceCase f32(Device d, int tokens, int in, int out) {
        double bytes = 4.0 * ((double) out * in + (double) tokens * in + (double) tokens * out);
        return new DeviceCase(d, "w4ax gemm f32 (baseline)", shape(tokens, in, out), bytes, 2.0 * tokens * in * out,
                Roofline.FMA_PEAK, "gemmF32Tiled", (r, a) -> {
                    Buffer w = a.f32("w", (long) out * in);
                    Buffer x = a.f32("x", (long) tokens * in);
                    Buffer y = a.f32("y", (long) tokens * out);
                    Grid g = Grid.of2((out + 2 * TILE_X - 1) / (2 * TILE_X) * TILE_X,
                            (tokens + 2 * TILE_Y - 1) / (2 * TILE_Y) * TILE_Y, TILE_X, TILE_Y);
                    return () -> r.run(GemmKernels.class, "gemmF32Tiled", g, w, x, y, tokens, out, in, TILE_X, TILE_Y,
                            TILE_K);
                });
    }

    private static float[] floats(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
    }
}
