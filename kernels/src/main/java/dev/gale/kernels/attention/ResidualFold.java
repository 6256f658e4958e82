package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F16;
import static dev.gale.kernels.Operands.F32;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The dense F32/F16 inner loop of decode attention, for the few full-precision tokens of a {@link KiviCache}
 * residual window: one token's scores for {@code g} query rows, and one token's weighted value added into {@code g}
 * accumulators. Deliberately minimal and generic (a token row at a byte offset, F32 or F16) so it can be unified
 * with the dense cache's loop later; it is not the dense cache's tuned loop (a residual window is at most R tokens).
 */
final class ResidualFold {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private ResidualFold() {
    }

    /** Loads the {@code d} elements of the row at byte {@code off} as floats into {@code row[at … at + d)}. */
    static void load(MemorySegment seg, long off, boolean f16, int d, float[] row, int at) {
        if (f16) {
            for (int e = 0; e < d; e++) {
                row[at + e] = Float.float16ToFloat(seg.get(F16, off + 2L * e));
            }
        } else {
            MemorySegment.copy(seg, F32, off, row, at, d);
        }
    }

    /** {@code out[outOff + r·outStride] = q_r · row} for the {@code g} rows of {@code q} ({@code d} floats apart). */
    static void scores(float[] row, int at, int d, float[] q, int qOff, int g, float[] out, int outOff, int outStride) {
        int dv = d - d % L;
        for (int r = 0; r < g; r++) {
            int qr = qOff + r * d;
            FloatVector acc = FloatVector.zero(F);
            for (int e = 0; e < dv; e += L) {
                acc = FloatVector.fromArray(F, row, at + e).fma(FloatVector.fromArray(F, q, qr + e), acc);
            }
            float s = acc.reduceLanes(VectorOperators.ADD);
            for (int e = dv; e < d; e++) {
                s += row[at + e] * q[qr + e];
            }
            out[outOff + r * outStride] = s;
        }
    }

    /**
     * {@code Õ_r += p_r · row[at …]} for the {@code g} states at {@code st[stOff …]} (stride {@code d + 2}), with
     * {@code p_r = p[pOff + r·pStride]}.
     */
    static void values(float[] row, int at, int d, float[] p, int pOff, int pStride, int g, float[] st, int stOff) {
        int dv = d - d % L;
        for (int r = 0; r < g; r++) {
            float pr = p[pOff + r * pStride];
            int o = stOff + r * (d + 2) + SoftmaxState.O;
            for (int e = 0; e < dv; e += L) {
                FloatVector.fromArray(F, row, at + e).fma(FloatVector.broadcast(F, pr), FloatVector.fromArray(F, st, o + e))
                        .intoArray(st, o + e);
            }
            for (int e = dv; e < d; e++) {
                st[o + e] += pr * row[at + e];
            }
        }
    }
}
