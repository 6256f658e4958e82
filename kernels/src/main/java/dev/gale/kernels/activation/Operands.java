package dev.gale.kernels.activation;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Operand checks and scalar access shared by the element-wise op families (norm, activation, rope, sampling). Every
 * operand is little-endian F32 at a byte offset into a {@link MemorySegment}, so slices of larger buffers work.
 */
public final class Operands {
    /** Scalar F32 access: little endian, no alignment requirement (offsets are byte offsets). */
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private Operands() {
    }

    /**
     * Checks that {@code seg} holds {@code count} F32 values from byte offset {@code off}; throws a
     * {@link ShapeMismatchException} naming the operand and both sizes otherwise.
     */
    public static void requireF32(String op, String operand, MemorySegment seg, long off, long count) {
        if (seg == null) {
            throw new ShapeMismatchException(op + ": operand '" + operand + "' is null");
        }
        if (count < 0) {
            throw new ShapeMismatchException(op + ": operand '" + operand + "' has negative element count " + count);
        }
        if (off < 0 || off > seg.byteSize() || (seg.byteSize() - off) / Float.BYTES < count) {
            throw new ShapeMismatchException(op + ": operand '" + operand + "' needs " + count + " F32 values ("
                    + count * Float.BYTES + " bytes) at byte offset " + off + ", but its segment has "
                    + seg.byteSize() + " bytes");
        }
    }

    /** Checks a dimension is at least {@code min}. */
    public static void requireDim(String op, String name, long value, long min) {
        if (value < min) {
            throw new ShapeMismatchException(op + ": " + name + " must be at least " + min + ", got " + value);
        }
    }

    /** rows × dim as a long element count, rejecting negative sizes. */
    public static long elements(String op, int rows, int dim) {
        requireDim(op, "rows", rows, 0);
        requireDim(op, "dim", dim, 1);
        return (long) rows * dim;
    }

    /**
     * Elements per call of an op's inner vector loop. A long range is cut into such pieces by a scalar outer loop so
     * that the vector loop's method is invoked many times and gets a normal C2 compilation early: a loop that runs
     * long inside one call is first compiled on-stack-replacement, and an OSR compilation boxes the loop-carried
     * vectors that enter it from the interpreter (measured ~100x slower per element until a normal compile arrives).
     */
    public static final int INNER = 2048;

    /** Elements per block when an element-wise op is split over the worker pool. */
    public static final int BLOCK = 1 << 14;
    /** Blocks per parallel chunk at least (64 Ki elements): smaller ops run on the caller alone. */
    public static final int BLOCK_GRAIN = 4;

    /** Number of {@link #BLOCK}-element blocks covering {@code n} elements. */
    public static int blocks(long n) {
        long b = (n + BLOCK - 1) / BLOCK;
        if (b > Integer.MAX_VALUE) {
            throw new dev.gale.core.ShapeMismatchException("element count " + n + " is too large to split");
        }
        return (int) b;
    }
}
