package dev.gale.kernels.activation;

import static dev.gale.kernels.activation.ElemTestSupport.PAD;
import static dev.gale.kernels.activation.ElemTestSupport.assertNoAllocation;

import dev.gale.kernels.norm.LayerNorm;
import dev.gale.kernels.norm.RmsNorm;
import dev.gale.kernels.rope.Rope;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import dev.gale.kernels.sampling.Argmax;
import dev.gale.kernels.sampling.TopK;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The single-thread entries of the hot ops allocate nothing once compiled: in particular no {@code FloatVector} is
 * boxed, which would mean the vectorised exp/erf was not inlined into the loop (cpu-kernels.md §9.3). Sizes are small
 * so that the warm-up stays short; the code paths are the same as at model shapes (vector body and scalar tail).
 */
@Tag("vector")
class ZeroAllocationTest {
    /** Whole vectors (16 of 512 bits, 32 of 256) plus a scalar tail. */
    private static final int N = 256 + 5;
    private static Arena arena;
    private static MemorySegment x;
    private static MemorySegment y;
    private static MemorySegment w;
    private static MemorySegment b;

    @BeforeAll
    static void setUp() {
        arena = Arena.ofShared();
        Random rnd = new Random(41);
        x = ElemTestSupport.segment(arena, ElemTestSupport.gaussian(rnd, 2 * N, 2));
        y = ElemTestSupport.segment(arena, ElemTestSupport.gaussian(rnd, 2 * N, 2));
        w = ElemTestSupport.segment(arena, ElemTestSupport.gaussian(rnd, N, 1));
        b = ElemTestSupport.segment(arena, ElemTestSupport.gaussian(rnd, N, 1));
    }

    @AfterAll
    static void tearDown() {
        arena.close();
    }

    @Test
    void norms() {
        assertNoAllocation("rmsnorm", () -> RmsNorm.apply(x, PAD, w, PAD, y, PAD, 2, N, 1e-5f));
        assertNoAllocation("layernorm", () -> LayerNorm.apply(x, PAD, w, PAD, b, PAD, y, PAD, 2, N, 1e-5f));
    }

    @Test
    void softmax() {
        assertNoAllocation("softmax", () -> Softmax.apply(x, PAD, y, PAD, 2, N, 0.5f));
    }

    @Test
    void activations() {
        assertNoAllocation("silu", () -> Silu.apply(x, PAD, y, PAD, N));
        assertNoAllocation("gelu erf", () -> Gelu.apply(Gelu.Variant.ERF, x, PAD, y, PAD, N));
        assertNoAllocation("gelu tanh", () -> Gelu.apply(Gelu.Variant.TANH, x, PAD, y, PAD, N));
        assertNoAllocation("swiglu", () -> SwiGlu.apply(x, PAD, w, PAD, y, PAD, N));
        assertNoAllocation("residual add", () -> ResidualAdd.apply(x, PAD, w, PAD, y, PAD, N));
    }

    @Test
    void rope() {
        int[] pos = {3, 9};
        Random rnd = new Random(42);
        MemorySegment q = ElemTestSupport.segment(arena, ElemTestSupport.gaussian(rnd, 2 * 4 * 64, 1));
        MemorySegment k = ElemTestSupport.segment(arena, ElemTestSupport.gaussian(rnd, 2 * 2 * 64, 1));
        for (RopeLayout layout : RopeLayout.values()) {
            RopeTable table = new RopeTable(16, 64, 5e5, layout);
            assertNoAllocation("rope " + layout, () -> Rope.applyQK(table, q, PAD, k, PAD, 2, 4, 2, pos));
        }
    }

    @Test
    void sampling() {
        int[] idx = new int[40];
        float[] val = new float[40];
        assertNoAllocation("argmax", () -> Argmax.apply(x, PAD, 2 * N));
        assertNoAllocation("topk", () -> TopK.apply(x, PAD, 2 * N, 40, idx, val));
    }
}
