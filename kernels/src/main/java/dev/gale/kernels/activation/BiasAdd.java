package dev.gale.kernels.activation;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A linear layer's bias, in place: {@code y[r][c] += bias[c]} over {@code rows × cols} row-major F32. One correctly
 * rounded add per element, so every path gives the reference's bits.
 */
public final class BiasAdd {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private BiasAdd() {
    }

    /** The scalar reference. */
    public static void reference(MemorySegment y, long yOff, MemorySegment bias, long bOff, int rows, int cols) {
        check(y, yOff, bias, bOff, rows, cols);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                long o = yOff + 4L * ((long) r * cols + c);
                y.set(F32, o, y.get(F32, o) + bias.get(F32, bOff + 4L * c));
            }
        }
    }

    /** Vector API, rows split over {@link WorkerPool#shared()}. Allocates one capture per call. */
    public static void applyParallel(MemorySegment y, long yOff, MemorySegment bias, long bOff, int rows, int cols) {
        check(y, yOff, bias, bOff, rows, cols);
        WorkerPool.shared().parallelFor(rows, Math.max(1, 8192 / Math.max(1, cols)), (s, e) -> range(y, yOff, bias,
                bOff, cols, s, e));
    }

    private static void range(MemorySegment y, long yOff, MemorySegment bias, long bOff, int cols, int from, int to) {
        int bound = F.loopBound(cols);
        for (int r = from; r < to; r++) {
            long row = yOff + 4L * r * cols;
            int c = 0;
            for (; c < bound; c += F.length()) {
                FloatVector.fromMemorySegment(F, y, row + 4L * c, ORDER)
                        .add(FloatVector.fromMemorySegment(F, bias, bOff + 4L * c, ORDER))
                        .intoMemorySegment(y, row + 4L * c, ORDER);
            }
            for (; c < cols; c++) {
                y.set(F32, row + 4L * c, y.get(F32, row + 4L * c) + bias.get(F32, bOff + 4L * c));
            }
        }
    }

    private static void check(MemorySegment y, long yOff, MemorySegment bias, long bOff, int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("bias_add: negative shape " + rows + "x" + cols);
        }
        Operands.requireF32("bias_add", "y", y, yOff, (long) rows * cols);
        Operands.requireF32("bias_add", "bias", bias, bOff, cols);
    }
}
