package dev.gale.models.bert;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * ONNX {@code MatMulInteger} with the zero points already subtracted: {@code acc[r][c] = Σ_k a[r][k] · w[c][k]} in
 * exact 32-bit integer arithmetic, {@code a} the zero-point-corrected uint8 activations ({@code [rows][in]} ints in
 * {@code [−255, 255]}), {@code w} the int8 weights transposed to {@code [out][in]}. Integer sums are exact and
 * cannot overflow here ({@code in·255·128 < 2³¹} for {@code in < 65 793}), so the Vector API path matches the
 * reference bit for bit whatever its summation order.
 *
 * <p>Not yet a Gale kernel family: there is no u8×s8 GEMM in {@code kernels/quant} (Q8_0 is block-scaled); this is
 * the encoder's own, and moves there when one is written with a device kernel.
 */
final class Int8MatMul {
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_64;
    private static final int L = I.length();
    static final int MAX_IN = 65_792;

    private Int8MatMul() {
    }

    /** Scalar reference for row {@code r}, output {@code c}. */
    static int reference(int[] a, int aRow, byte[] w, int c, int in) {
        int s = 0;
        for (int k = 0; k < in; k++) {
            s += a[aRow + k] * w[c * in + k];
        }
        return s;
    }

    /**
     * Row {@code r} of {@code a} (starting at int {@code aRow}) against outputs {@code [0, out)}, four outputs per
     * pass so each activation vector is loaded once per four weight rows.
     */
    static void row(int[] a, int aRow, byte[] w, int in, int out, int[] acc) {
        int bound = I.loopBound(in);
        int c = 0;
        for (; c + 4 <= out; c += 4) {
            IntVector s0 = IntVector.zero(I);
            IntVector s1 = IntVector.zero(I);
            IntVector s2 = IntVector.zero(I);
            IntVector s3 = IntVector.zero(I);
            int w0 = c * in;
            int k = 0;
            for (; k < bound; k += L) {
                IntVector av = IntVector.fromArray(I, a, aRow + k);
                s0 = s0.add(av.mul(widen(w, w0 + k)));
                s1 = s1.add(av.mul(widen(w, w0 + in + k)));
                s2 = s2.add(av.mul(widen(w, w0 + 2 * in + k)));
                s3 = s3.add(av.mul(widen(w, w0 + 3 * in + k)));
            }
            int r0 = s0.reduceLanes(VectorOperators.ADD);
            int r1 = s1.reduceLanes(VectorOperators.ADD);
            int r2 = s2.reduceLanes(VectorOperators.ADD);
            int r3 = s3.reduceLanes(VectorOperators.ADD);
            for (; k < in; k++) {
                int av = a[aRow + k];
                r0 += av * w[w0 + k];
                r1 += av * w[w0 + in + k];
                r2 += av * w[w0 + 2 * in + k];
                r3 += av * w[w0 + 3 * in + k];
            }
            acc[c] = r0;
            acc[c + 1] = r1;
            acc[c + 2] = r2;
            acc[c + 3] = r3;
        }
        for (; c < out; c++) {
            acc[c] = reference(a, aRow, w, c, in);
        }
    }

    private static IntVector widen(byte[] w, int off) {
        return (IntVector) ByteVector.fromArray(B, w, off).convertShape(VectorOperators.B2I, I, 0);
    }
}
