package dev.gale.kernels.quant;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The species every quant kernel uses, all derived from {@code SPECIES_PREFERRED} and {@code static final} so they
 * constant-fold, plus the shared little-endian layouts and shape checks.
 *
 * <p>Byte loads are a quarter of the int width ({@link #B}), so a byte→int widening is one part-0 conversion with no
 * cross-lane shuffle. The kernels walk a 32-element block in steps of {@link #L} lanes, which needs
 * {@code 8 <= L <= 16} (256- or 512-bit vectors; 16 nibble bytes must split into whole byte vectors). On narrower
 * hardware (128-bit NEON/SSE) {@link #VECTOR_OK} is false and the entry points run the scalar reference instead;
 * {@link #PATH} says which, for run reports.
 */
final class QuantVectors {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Lanes per vector (float and int alike). */
    static final int L = F.length();
    /** True when the vector kernels can run on this hardware's preferred shape. */
    static final boolean VECTOR_OK = I.vectorBitSize() >= 256 && I.length() == L && L <= 16;
    /** Bytes at a quarter of the int width: one load widens to exactly one int (or float) vector. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(Math.max(64, I.vectorBitSize() / 4)));
    /** Which implementation the non-reference entry points run. */
    static final String PATH = VECTOR_OK ? "vector-api " + F.vectorBitSize() + "-bit" : "scalar reference (vector shape "
            + F.vectorBitSize() + "-bit unsupported)";

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);

    /** Elements per block in both formats. */
    static final int QK = 32;

    static {
        if (VECTOR_OK && B.length() != L) {
            throw new AssertionError("byte species " + B + " does not match " + L + " lanes");
        }
    }

    private QuantVectors() {
    }

    static void requireBlocks(int in, String what) {
        if (in <= 0 || in % QK != 0) {
            throw new ShapeMismatchException(what + ": row length " + in
                    + " is not a positive multiple of the block size " + QK);
        }
    }

    static void requirePositive(int n, String what) {
        if (n < 0) {
            throw new ShapeMismatchException(what + " is negative: " + n);
        }
    }

    static void requireBytes(MemorySegment seg, long off, long bytes, String what) {
        if (off < 0 || bytes < 0 || off + bytes > seg.byteSize()) {
            throw new ShapeMismatchException(what + ": needs bytes [" + off + ", " + (off + bytes)
                    + ") but the segment holds " + seg.byteSize());
        }
    }

    static void requireRange(int start, int end, int rows) {
        if (start < 0 || end > rows || start > end) {
            throw new ShapeMismatchException("row range [" + start + ", " + end + ") outside [0, " + rows + ")");
        }
    }

    /** fp16 bits at {@code off} → F32 (exact). */
    static float f16(MemorySegment seg, long off) {
        return Float.float16ToFloat(seg.get(I16, off));
    }
}
