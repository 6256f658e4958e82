package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.W4AxKernels;
import dev.gale.kernels.quant.W4AxMatmul;
import dev.gale.kernels.quant.W4Packed;
import dev.gale.kernels.quant.W4Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The W4Ax (COMET) products in the cross-device matrix: GEMV and GEMM of {@link W4Weights} with FMPQ
 * {@link ActivationQuant} (mixed A4/A8 precision maps, group sizes 32/64/128), against the double reference.
 */
public final class W4AxOps {
    private static final int LOCAL = 64;

    private W4AxOps() {
    }

    /** Both checks, in matrix order. */
    public static List<OpCheck> all() {
        return List.of(gemv(), gemm());
    }

    static OpCheck gemv() {
        return check("w4ax_gemv", new int[][] {{1, 1, 128, 32}, {1, 7, 256, 64}, {1, 33, 4096, 128},
            {1, 65, 384, 32}, {1, 6, 256, 128}});
    }

    static OpCheck gemm() {
        return check("w4ax_gemm", new int[][] {{3, 7, 128, 128}, {17, 9, 512, 32}, {5, 33, 4096, 64},
            {2, 65, 256, 128}});
    }

    /** Shapes {tokens, rows, in, group}; blocks 0 and 2 (where present) are A8, the rest A4. */
    private static OpCheck check(String name, int[][] shapes) {
        String tol = "|err| <= max(1e-5, (in/16 + 16)u) * sum|s_x q_x s_w q_w| per output (Numerics.dotBound)";
        return new OpCheck(name, tol, (t, e) -> {
            SplittableRandom r = new SplittableRandom(name.hashCode());
            for (int[] s : shapes) {
                int tokens = s[0];
                int rows = s[1];
                int in = s[2];
                int group = s[3];
                try (Arena arena = Arena.ofShared()) {
                    MemorySegment wf = arena.allocate(4L * rows * in);
                    MemorySegment xf = arena.allocate(4L * tokens * in);
                    for (long i = 0; i < (long) rows * in; i++) {
                        wf.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-1, 1));
                    }
                    for (long i = 0; i < (long) tokens * in; i++) {
                        xf.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(-3, 3));
                    }
                    boolean[] map = new boolean[in / W4Weights.BLOCK];
                    for (int b = 0; b < map.length; b += 2) {
                        map[b] = true;
                    }
                    W4Weights w = W4Weights.quantize(wf, 0, rows, in, group, arena);
                    ActivationQuant a = ActivationQuant.allocate(tokens, in, map, arena);
                    a.quantize(xf, 0, tokens);
                    try (Buffer got = Buffers.allocate("y", DType.F32, (long) tokens * rows)) {
                        if (t.vectorApi() && tokens == 1 && W4Packed.supports(w)) {
                            // The decode path a model runs at group 128: the GEMV over weights repacked at load.
                            W4Packed.pack(w, arena).gemvParallel(a, got.segment(), 0);
                        } else if (t.vectorApi()) {
                            W4AxMatmul.matmulParallel(w, a, got.segment(), 0);
                        } else {
                            try (Buffer wc = copy("wc", DType.U8, w.codes(), (long) rows * in / 2);
                                 Buffer ws = copy("ws", DType.F32, w.scales(), (long) rows * (in / group));
                                 Buffer ac = copy("ac", DType.I8, a.codes(), (long) tokens * in);
                                 Buffer as = copy("as", DType.F32, a.scales(), (long) tokens * a.blocks())) {
                                if (tokens == 1) {
                                    t.kernel(W4AxKernels.class, "w4axGemv", Grid.of1(Ops.roundUp(rows, LOCAL), LOCAL),
                                            wc, ws, ac, as, got, rows, in, group);
                                } else {
                                    t.kernel(W4AxKernels.class, "w4axGemm",
                                            Grid.of2(Ops.roundUp(rows, 16), Ops.roundUp(tokens, 4), 16, 4), wc, ws, ac,
                                            as, got, rows, in, group, tokens);
                                }
                            }
                        }
                        double tolRel = Math.max(Numerics.F32_REL, (in / 16.0 + 16) * Numerics.U_F32);
                        for (int tk = 0; tk < tokens; tk++) {
                            for (int o = 0; o < rows; o++) {
                                e.check(name + " " + tokens + "x" + rows + "x" + in + " g" + group + " token " + tk
                                        + " row " + o, got.segment().getAtIndex(ValueLayout.JAVA_FLOAT,
                                        (long) tk * rows + o), W4AxMatmul.reference(w, a, tk, o),
                                        W4AxMatmul.sumAbs(w, a, tk, o), tolRel);
                            }
                        }
                    }
                }
            }
        });
    }

    private static Buffer copy(String name, DType type, MemorySegment src, long count) {
        Buffer b = Buffers.allocate(name, type, count);
        MemorySegment.copy(src, 0, b.segment(), 0, b.segment().byteSize());
        return b;
    }
}
