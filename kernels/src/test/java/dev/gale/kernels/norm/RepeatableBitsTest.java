package dev.gale.kernels.norm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The norms give the same bits on every call, from the first (interpreted) to the last (C2-compiled): a library whose
 * output moves with the JIT's tier cannot promise reproducible runs, and quantized models downstream amplify it.
 */
class RepeatableBitsTest {
    @Test
    void normsAndSoftmaxBitsDoNotDependOnTheJitTier() {
        int rows = 64;
        int dim = 384;
        try (Arena a = Arena.ofShared()) {
            MemorySegment x = a.allocate(4L * rows * dim);
            MemorySegment g = a.allocate(4L * dim);
            MemorySegment b = a.allocate(4L * dim);
            SplittableRandom r = new SplittableRandom(3);
            for (long i = 0; i < (long) rows * dim; i++) {
                x.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (r.nextGaussian() * 3 + 1));
            }
            for (int i = 0; i < dim; i++) {
                g.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 1.1f);
                b.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 0.1f);
            }
            MemorySegment ln0 = a.allocate(4L * rows * dim);
            MemorySegment rms0 = a.allocate(4L * rows * dim);
            LayerNorm.apply(x, 0, g, 0, b, 0, ln0, 0, rows, dim, 1e-12f);
            RmsNorm.apply(x, 0, g, 0, rms0, 0, rows, dim, 1e-5f);
            MemorySegment y = a.allocate(4L * rows * dim);
            int lnDiffer = 0;
            int rmsDiffer = 0;
            for (int call = 0; call < 3000; call++) {
                LayerNorm.apply(x, 0, g, 0, b, 0, y, 0, rows, dim, 1e-12f);
                lnDiffer += y.mismatch(ln0) >= 0 ? 1 : 0;
                RmsNorm.apply(x, 0, g, 0, y, 0, rows, dim, 1e-5f);
                rmsDiffer += y.mismatch(rms0) >= 0 ? 1 : 0;
            }
            MemorySegment sm0 = a.allocate(4L * rows * dim);
            dev.gale.kernels.activation.Softmax.apply(x, 0, sm0, 0, rows, dim, 1f);
            int smDiffer = 0;
            for (int call = 0; call < 3000; call++) {
                dev.gale.kernels.activation.Softmax.apply(x, 0, y, 0, rows, dim, 1f);
                smDiffer += y.mismatch(sm0) >= 0 ? 1 : 0;
            }
            assertEquals(0, lnDiffer, "layernorm calls whose bits differ from the first call");
            assertEquals(0, rmsDiffer, "rmsnorm calls whose bits differ from the first call");
            assertEquals(0, smDiffer, "softmax calls whose bits differ from the first call");
        }
    }
}
