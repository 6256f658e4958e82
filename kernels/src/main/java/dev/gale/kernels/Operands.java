package dev.gale.kernels;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Operand checks and element layouts shared by every op family. Operands are little-endian values at byte offsets
 * into {@link MemorySegment}s, so slices of larger buffers work; checks run once per call, before any hot loop, and
 * throw a {@link ShapeMismatchException} naming the op, the operand and the sizes involved.
 */
public final class Operands {
    /** Scalar F32 access: little endian, no alignment requirement (offsets are byte offsets). */
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;
    /** Alias of {@link #ORDER}, as the matrix families name it. */
    public static final ByteOrder LE = ORDER;
    /** Scalar F16 bit-pattern access. */
    public static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

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
     * Short pieces also reach C2's invocation threshold sooner: with 2048-element pieces a 14336-element SwiGLU
     * stayed in C1's boxed code for the whole of a benchmark's warm-up (3 ms instead of 40 us per call); with 256 it
     * is compiled within a few hundred calls, and the extra call per 256 elements costs nothing measurable.
     */
    public static final int INNER = 256;

    /** Elements per block when an element-wise op is split over the worker pool. */
    public static final int BLOCK = 1 << 14;
    /** Blocks per parallel chunk at least (64 Ki elements): smaller ops run on the caller alone. */
    public static final int BLOCK_GRAIN = 4;

    /** Number of {@link #BLOCK}-element blocks covering {@code n} elements. */
    public static int blocks(long n) {
        long b = (n + BLOCK - 1) / BLOCK;
        if (b > Integer.MAX_VALUE) {
            throw new ShapeMismatchException("element count " + n + " is too large to split");
        }
        return (int) b;
    }


    /** Throws unless every dimension is at least 1. */
    public static void dims(String op, int tokens, int out, int in) {
        if (tokens < 1 || out < 1 || in < 1) {
            throw new ShapeMismatchException(op + ": dimensions must be positive, got tokens=" + tokens + ", out="
                    + out + ", in=" + in);
        }
    }

    /**
     * Throws unless {@code seg} holds a row-major {@code rows × cols} matrix of {@code elemBytes}-byte elements
     * starting at byte {@code off}.
     */
    public static void matrix(String op, String operand, MemorySegment seg, long off, long rows, long cols, int elemBytes,
            String dtype) {
        long need = rows * cols * elemBytes;
        if (off < 0 || off > seg.byteSize() || seg.byteSize() - off < need) {
            throw new ShapeMismatchException(op + ": operand " + operand + " declared [" + rows + "][" + cols + "] "
                    + dtype + " (" + need + " bytes) at byte offset " + off + ", but its segment holds "
                    + seg.byteSize() + " bytes");
        }
    }

    /** Throws unless {@code [start, end)} is a range inside {@code [0, size)}. */
    public static void range(String op, String what, int start, int end, int size) {
        if (start < 0 || end > size || start > end) {
            throw new ShapeMismatchException(op + ": " + what + " range [" + start + ", " + end
                    + ") is not inside [0, " + size + ")");
        }
    }
}
