package dev.gale.bench.attention.kv;

import static dev.gale.kernels.Operands.LE;

import dev.gale.kernels.activation.VectorMath;
import dev.gale.kernels.attention.SoftmaxState;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The F16 dense baseline of the KV-cache decode bench: a minimal Vector API loop over a head-major F16 cache
 * ({@code [kvHead][token][d]} for keys and for values), written here because the dense cache ({@code DenseKv}) lives
 * on another branch. It has the same block structure as the KIVI loop (blocks of 32 tokens, one online-softmax step
 * per block, the {@code g} query rows of a GQA group sharing every decoded key and value) so the two differ only in
 * what they read and how they decode it. Halves are decoded exactly for finite values (sign-extend, shift, mask,
 * rescale by 2^112), as {@code GemvKernel} does.
 */
final class F16DecodeBaseline {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Halves at half the float width: {@code L} of them widen to one float vector. */
    private static final VectorSpecies<Short> HS = ShortVector.SPECIES_PREFERRED.withShape(
            VectorShape.forBitSize(L * 16));
    private static final int BLOCK = 32;
    private static final int SIGN_EXP_MANT = 0x8fffe000;
    private static final float REBIAS = 0x1p112f;

    private F16DecodeBaseline() {
    }

    static int scratchFloats(int g) {
        return g * BLOCK;
    }

    /** Folds tokens {@code [0, n)} of one KV head into {@code g} states; {@code q} is pre-scaled, {@code g·d}. */
    static void accumulate(MemorySegment k, MemorySegment v, long headByte, int n, int d, float[] q, int g,
            float[] st, float[] sc) {
        if (g != 4) {
            throw new IllegalArgumentException("the F16 baseline is written for GQA groups of 4, got " + g);
        }
        for (int t0 = 0; t0 < n; t0 += BLOCK) {
            int nb = Math.min(BLOCK, n - t0);
            for (int j = 0; j < nb; j++) {
                long row = headByte + 2L * (t0 + j) * d;
                FloatVector a0 = FloatVector.zero(F);
                FloatVector a1 = a0;
                FloatVector a2 = a0;
                FloatVector a3 = a0;
                for (int e = 0; e < d; e += L) {
                    IntVector h = (IntVector) ShortVector.fromMemorySegment(HS, k, row + 2L * e, LE)
                            .convertShape(VectorOperators.S2I, I, 0);
                    FloatVector x = ((FloatVector) h.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT)
                            .reinterpretAsFloats()).mul(REBIAS);
                    a0 = x.fma(FloatVector.fromArray(F, q, e), a0);
                    a1 = x.fma(FloatVector.fromArray(F, q, d + e), a1);
                    a2 = x.fma(FloatVector.fromArray(F, q, 2 * d + e), a2);
                    a3 = x.fma(FloatVector.fromArray(F, q, 3 * d + e), a3);
                }
                sc[j] = a0.reduceLanes(VectorOperators.ADD);
                sc[BLOCK + j] = a1.reduceLanes(VectorOperators.ADD);
                sc[2 * BLOCK + j] = a2.reduceLanes(VectorOperators.ADD);
                sc[3 * BLOCK + j] = a3.reduceLanes(VectorOperators.ADD);
            }
            for (int r = 0; r < g; r++) {
                int o = r * (d + 2);
                int s0 = r * BLOCK;
                float mb = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < nb; j++) {
                    mb = Math.max(mb, sc[s0 + j]);
                }
                float l = st[o + SoftmaxState.L];
                float m = Math.max(st[o + SoftmaxState.M], mb);
                float corr = l == 0f ? 0f : VectorMath.exp(st[o + SoftmaxState.M] - m);
                float total = 0f;
                int nv = nb - nb % L;
                FloatVector sum = FloatVector.zero(F);
                for (int j = 0; j < nv; j += L) {
                    FloatVector p = VectorMath.exp(FloatVector.fromArray(F, sc, s0 + j).sub(m));
                    p.intoArray(sc, s0 + j);
                    sum = sum.add(p);
                }
                total = sum.reduceLanes(VectorOperators.ADD);
                for (int j = nv; j < nb; j++) {
                    float p = VectorMath.exp(sc[s0 + j] - m);
                    sc[s0 + j] = p;
                    total += p;
                }
                st[o + SoftmaxState.M] = m;
                st[o + SoftmaxState.L] = corr * l + total;
                for (int e = 0; e < d; e += L) {
                    FloatVector.fromArray(F, st, o + 2 + e).mul(corr).intoArray(st, o + 2 + e);
                }
            }
            int st1 = d + 2;
            for (int e = 0; e < d; e += L) {
                int o = SoftmaxState.O + e;
                FloatVector a0 = FloatVector.fromArray(F, st, o);
                FloatVector a1 = FloatVector.fromArray(F, st, o + st1);
                FloatVector a2 = FloatVector.fromArray(F, st, o + 2 * st1);
                FloatVector a3 = FloatVector.fromArray(F, st, o + 3 * st1);
                for (int j = 0; j < nb; j++) {
                    long at = headByte + 2L * ((long) (t0 + j) * d + e);
                    IntVector h = (IntVector) ShortVector.fromMemorySegment(HS, v, at, LE)
                            .convertShape(VectorOperators.S2I, I, 0);
                    FloatVector x = ((FloatVector) h.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT)
                            .reinterpretAsFloats()).mul(REBIAS);
                    a0 = x.fma(FloatVector.broadcast(F, sc[j]), a0);
                    a1 = x.fma(FloatVector.broadcast(F, sc[BLOCK + j]), a1);
                    a2 = x.fma(FloatVector.broadcast(F, sc[2 * BLOCK + j]), a2);
                    a3 = x.fma(FloatVector.broadcast(F, sc[3 * BLOCK + j]), a3);
                }
                a0.intoArray(st, o);
                a1.intoArray(st, o + st1);
                a2.intoArray(st, o + 2 * st1);
                a3.intoArray(st, o + 3 * st1);
            }
        }
    }
}
