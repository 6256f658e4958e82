package dev.gale.kernels.gemm;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Shape validation shared by every op of the family, run once per call before any hot loop, plus the element
 * layouts the kernels read and write with.
 */
final class Operands {
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    private Operands() {
    }

    /** Throws unless every dimension is at least 1. */
    static void dims(String op, int tokens, int out, int in) {
        if (tokens < 1 || out < 1 || in < 1) {
            throw new ShapeMismatchException(op + ": dimensions must be positive, got tokens=" + tokens + ", out="
                    + out + ", in=" + in);
        }
    }

    /**
     * Throws unless {@code seg} holds a row-major {@code rows × cols} matrix of {@code elemBytes}-byte elements
     * starting at byte {@code off}.
     */
    static void matrix(String op, String operand, MemorySegment seg, long off, long rows, long cols, int elemBytes,
            String dtype) {
        long need = rows * cols * elemBytes;
        if (off < 0 || off > seg.byteSize() || seg.byteSize() - off < need) {
            throw new ShapeMismatchException(op + ": operand " + operand + " declared [" + rows + "][" + cols + "] "
                    + dtype + " (" + need + " bytes) at byte offset " + off + ", but its segment holds "
                    + seg.byteSize() + " bytes");
        }
    }

    /** Throws unless {@code [start, end)} is a range inside {@code [0, size)}. */
    static void range(String op, String what, int start, int end, int size) {
        if (start < 0 || end > size || start > end) {
            throw new ShapeMismatchException(op + ": " + what + " range [" + start + ", " + end
                    + ") is not inside [0, " + size + ")");
        }
    }
}
