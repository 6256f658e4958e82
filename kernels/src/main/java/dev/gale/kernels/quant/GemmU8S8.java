package dev.gale.kernels.quant;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The dynamically quantized linear layer of ONNX's int8 graphs ({@code MatMulInteger → Cast → Mul → Add}):
 * {@code y[r][c] = float(Σ_k (q[r][k] − zp) · w[k][c]) · (scale · wScale[c]) + bias[c]}, with {@code q}, {@code zp}
 * and {@code scale} from {@link DynamicQuantU8} (one pair per sentence of {@code seq} rows) and {@code w} int8 with
 * zero point 0, {@code [in][out]} as ONNX stores it.
 *
 * <p>The integer sum is exact ({@code in·255·128 < 2³¹} for {@code in ≤} {@link #MAX_IN}) and the epilogue is the
 * graph's three correctly rounded float operations in its order (the scale product first, as the graph's own
 * {@code Mul} of the two scales), so every path gives the reference's bits.
 *
 * <p>Vector API: two rows by {@code 4·L} columns of int accumulators, the activation broadcast and the weight row
 * widened from bytes; rows split over {@link WorkerPool#shared()}.
 */
public final class GemmU8S8 {
    public static final int MAX_IN = 65_792;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(I.vectorBitSize() / 4));
    private static final int L = I.length();
    private static final int COLS = 4 * L;

    private GemmU8S8() {
    }

    /** The scalar reference. */
    public static void reference(MemorySegment q, MemorySegment params, MemorySegment w, MemorySegment wScale,
            MemorySegment bias, MemorySegment y, int rows, int seq, int in, int out) {
        check(q, params, w, wScale, bias, y, rows, seq, in, out);
        for (int r = 0; r < rows; r++) {
            float scale = params.getAtIndex(F32, 2L * (r / seq));
            int zp = (int) params.getAtIndex(F32, 2L * (r / seq) + 1);
            for (int c = 0; c < out; c++) {
                int acc = 0;
                for (int k = 0; k < in; k++) {
                    acc += (u8(q, (long) r * in + k) - zp) * w.get(JAVA_BYTE, (long) k * out + c);
                }
                y.setAtIndex(F32, (long) r * out + c, epilogue(acc, scale, wScale.getAtIndex(F32, c),
                        bias.getAtIndex(F32, c)));
            }
        }
    }

    /** The graph's epilogue: {@code float(acc) · (scale · wScale) + bias}, three roundings in this order. */
    public static float epilogue(int acc, float scale, float wScale, float bias) {
        float m = scale * wScale;
        float p = (float) acc * m;
        return p + bias;
    }

    /** Vector API over {@link WorkerPool#shared()}, pairs of rows per task. */
    public static void applyParallel(MemorySegment q, MemorySegment params, MemorySegment w, MemorySegment wScale,
            MemorySegment bias, MemorySegment y, int rows, int seq, int in, int out) {
        check(q, params, w, wScale, bias, y, rows, seq, in, out);
        int pairs = (rows + 1) / 2;
        WorkerPool.shared().parallelFor(pairs, 1, (s, e) -> {
            for (int p = s; p < e; p++) {
                rowPair(q, params, w, wScale, bias, y, 2 * p, Math.min(rows, 2 * p + 2), seq, in, out);
            }
        });
    }

    private static void rowPair(MemorySegment q, MemorySegment params, MemorySegment w, MemorySegment wScale,
            MemorySegment bias, MemorySegment y, int r0, int end, int seq, int in, int out) {
        int r1 = end - 1;
        float s0 = params.getAtIndex(F32, 2L * (r0 / seq));
        float s1 = params.getAtIndex(F32, 2L * (r1 / seq));
        int z0 = (int) params.getAtIndex(F32, 2L * (r0 / seq) + 1);
        int z1 = (int) params.getAtIndex(F32, 2L * (r1 / seq) + 1);
        long q0 = (long) r0 * in;
        long q1 = (long) r1 * in;
        int c = 0;
        for (; c + COLS <= out; c += COLS) {
            IntVector a0 = IntVector.zero(I);
            IntVector a1 = IntVector.zero(I);
            IntVector a2 = IntVector.zero(I);
            IntVector a3 = IntVector.zero(I);
            IntVector b0 = IntVector.zero(I);
            IntVector b1 = IntVector.zero(I);
            IntVector b2 = IntVector.zero(I);
            IntVector b3 = IntVector.zero(I);
            for (int k = 0; k < in; k++) {
                int x0 = u8(q, q0 + k) - z0;
                int x1 = u8(q, q1 + k) - z1;
                long wo = (long) k * out + c;
                IntVector w0 = widen(w, wo);
                IntVector w1 = widen(w, wo + L);
                IntVector w2 = widen(w, wo + 2L * L);
                IntVector w3 = widen(w, wo + 3L * L);
                a0 = a0.add(w0.mul(x0));
                a1 = a1.add(w1.mul(x0));
                a2 = a2.add(w2.mul(x0));
                a3 = a3.add(w3.mul(x0));
                b0 = b0.add(w0.mul(x1));
                b1 = b1.add(w1.mul(x1));
                b2 = b2.add(w2.mul(x1));
                b3 = b3.add(w3.mul(x1));
            }
            store(y, r0, c, out, a0, s0, wScale, bias);
            store(y, r0, c + L, out, a1, s0, wScale, bias);
            store(y, r0, c + 2 * L, out, a2, s0, wScale, bias);
            store(y, r0, c + 3 * L, out, a3, s0, wScale, bias);
            if (r1 != r0) {
                store(y, r1, c, out, b0, s1, wScale, bias);
                store(y, r1, c + L, out, b1, s1, wScale, bias);
                store(y, r1, c + 2 * L, out, b2, s1, wScale, bias);
                store(y, r1, c + 3 * L, out, b3, s1, wScale, bias);
            }
        }
        for (; c < out; c++) {
            for (int r = r0; r <= r1; r++) {
                float scale = r == r0 ? s0 : s1;
                int zp = r == r0 ? z0 : z1;
                int acc = 0;
                for (int k = 0; k < in; k++) {
                    acc += (u8(q, (long) r * in + k) - zp) * w.get(JAVA_BYTE, (long) k * out + c);
                }
                y.setAtIndex(F32, (long) r * out + c, epilogue(acc, scale, wScale.getAtIndex(F32, c),
                        bias.getAtIndex(F32, c)));
            }
        }
    }

    /** {@link #epilogue} on {@code L} columns from {@code c} of row {@code r}. */
    private static void store(MemorySegment y, int r, int c, int out, IntVector acc, float scale, MemorySegment wScale,
            MemorySegment bias) {
        long col = 4L * c;
        FloatVector m = FloatVector.fromMemorySegment(F, wScale, col, ORDER).mul(scale);
        ((FloatVector) acc.convertShape(VectorOperators.I2F, F, 0)).mul(m)
                .add(FloatVector.fromMemorySegment(F, bias, col, ORDER))
                .intoMemorySegment(y, 4L * r * out + col, ORDER);
    }

    private static IntVector widen(MemorySegment w, long off) {
        return (IntVector) ByteVector.fromMemorySegment(B, w, off, ORDER).convertShape(VectorOperators.B2I, I, 0);
    }

    private static int u8(MemorySegment q, long i) {
        return Byte.toUnsignedInt(q.get(JAVA_BYTE, i));
    }

    private static void check(MemorySegment q, MemorySegment params, MemorySegment w, MemorySegment wScale,
            MemorySegment bias, MemorySegment y, int rows, int seq, int in, int out) {
        if (rows < 0 || seq < 1 || in < 1 || out < 1 || in > MAX_IN) {
            throw new IllegalArgumentException("gemm_u8s8: shape " + rows + "x" + in + "x" + out + ", seq " + seq
                    + " (in at most " + MAX_IN + ")");
        }
        int batch = (rows + seq - 1) / seq;
        if (q.byteSize() < (long) rows * in || params.byteSize() < 8L * batch || w.byteSize() < (long) in * out
                || wScale.byteSize() < 4L * out || bias.byteSize() < 4L * out || y.byteSize() < 4L * rows * out) {
            throw new IllegalArgumentException("gemm_u8s8: segments too small for " + rows + "x" + in + "x" + out);
        }
    }
}
