package dev.gale.kernels.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * KIVI's asymmetric quantizer (papers.md §5) for a group {@code x_1 … x_G}: {@code z = min x}, {@code s = (max − min) ·
 * (1 / levels)}, code {@code q = round((x − z) / s)} clamped to {@code [0, levels]}, {@code x̂ = q·s + z}.
 *
 * <p>Bit-exact everywhere: the code is <em>defined</em> by thresholds, {@code q} is the integer with
 * {@code fl((q − ½)·s) ≤ x − z < fl((q + ½)·s)}, found from the division's estimate and one correction step each
 * way. Only correctly rounded operations (subtract, multiply, compare) decide the result, so the scalar reference,
 * the Vector API path and a device kernel (whose division may be off by ulps, OpenCL C allows 2.5) agree to the
 * bit; {@code 1 / levels} is the constant {@link #invLevels}, never divided on a device. A group whose elements are
 * all equal has {@code s = 0}: every code is 0 and {@code x̂ = z} is exact (no division by zero, no NaN).
 *
 * <p>Reconstruction error: {@code |x − x̂| ≤ s/2} up to the rounding of {@code q·s + z} (a few ulps of
 * {@code max(|x|, |z|)}), or an underflow when {@code max − min} is subnormal. Inputs must be finite.
 */
public final class KiviQuantizer {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final int L = F.length();

    private KiviQuantizer() {
    }

    /** {@code 1 / levels} rounded once; the same float is passed to device kernels. */
    public static float invLevels(int levels) {
        return 1f / levels;
    }

    /** The code of {@code x} in a group with zero {@code z} and scale {@code s} (see the class comment). */
    public static int code(float x, float z, float s, int levels) {
        if (!(s > 0f)) {
            return 0;
        }
        float r = x - z;
        int q = Math.max(0, Math.min(levels, (int) (r / s + 0.5f)));
        if (q < levels && r >= (q + 0.5f) * s) {
            q++;
        }
        if (q > 0 && r < (q - 0.5f) * s) {
            q--;
        }
        return q;
    }

    public static float dequantize(int code, float s, float z) {
        return code * s + z;
    }

    /**
     * Scalar reference: quantizes {@code n} elements {@code x[off + i·stride]} into {@code codes[codeOff + i]} and
     * stores {@code s, z} at {@code sz[szOff], sz[szOff + 1]}.
     */
    public static void quantizeGroup(float[] x, int off, int stride, int n, int levels, int[] codes, int codeOff,
            float[] sz, int szOff) {
        float min = x[off];
        float max = min;
        for (int i = 1; i < n; i++) {
            float v = x[off + i * stride];
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        float s = (max - min) * invLevels(levels);
        for (int i = 0; i < n; i++) {
            codes[codeOff + i] = code(x[off + i * stride], min, s, levels);
        }
        sz[szOff] = s;
        sz[szOff + 1] = min;
    }

    /**
     * Vector API path over {@link #L} adjacent groups at once, one per lane: lane {@code j} quantizes the {@code n}
     * elements {@code x[off + j + i·stride]} (a key window {@code [tokens][d]}: lane = channel, {@code i} = token,
     * {@code stride = d}). Codes go to {@code codes[codeOff + i·L + j]}, scales and zeros
     * to {@code s[sOff + j]}, {@code z[zOff + j]}. Bit-identical to {@link #quantizeGroup}: the same operations in
     * the same order per lane. Allocates nothing.
     */
    public static void quantizeLanes(float[] x, int off, int stride, int n, int levels, int[] codes, int codeOff,
            float[] s, int sOff, float[] z, int zOff) {
        FloatVector min = FloatVector.fromArray(F, x, off);
        FloatVector max = min;
        for (int i = 1; i < n; i++) {
            FloatVector v = FloatVector.fromArray(F, x, off + i * stride);
            min = min.min(v);
            max = max.max(v);
        }
        FloatVector sv = max.sub(min).mul(invLevels(levels));
        VectorMask<Float> live = sv.compare(VectorOperators.GT, 0f);
        VectorMask<Integer> liveI = live.cast(I);
        for (int i = 0; i < n; i++) {
            FloatVector r = FloatVector.fromArray(F, x, off + i * stride).sub(min);
            // The estimate; lanes with s = 0 divide by zero here and are zeroed below.
            IntVector q = (IntVector) r.div(sv).add(0.5f).convert(VectorOperators.F2I, 0);
            q = q.max(0).min(levels);
            FloatVector qf = (FloatVector) q.convert(VectorOperators.I2F, 0);
            VectorMask<Integer> up = r.compare(VectorOperators.GE, qf.add(0.5f).mul(sv)).cast(I)
                    .and(q.compare(VectorOperators.LT, levels));
            q = q.add(1, up);
            qf = (FloatVector) q.convert(VectorOperators.I2F, 0);
            VectorMask<Integer> down = r.compare(VectorOperators.LT, qf.sub(0.5f).mul(sv)).cast(I)
                    .and(q.compare(VectorOperators.GT, 0));
            q = q.sub(1, down);
            q = IntVector.zero(I).blend(q, liveI);
            q.intoArray(codes, codeOff + i * L);
        }
        sv.intoArray(s, sOff);
        min.intoArray(z, zOff);
    }

    /**
     * Vector API path for one contiguous group {@code x[off … off + n)} ({@code n} a multiple of {@link #L}; a value
     * group is {@code G} adjacent channels of one token): min and max by lanes then across them, codes by lanes.
     * Bit-identical to {@link #quantizeGroup} (min and max do not depend on the order). Allocates nothing.
     */
    public static void quantizeRun(float[] x, int off, int n, int levels, int[] codes, int codeOff, float[] sz,
            int szOff) {
        FloatVector minV = FloatVector.fromArray(F, x, off);
        FloatVector maxV = minV;
        for (int i = L; i < n; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, off + i);
            minV = minV.min(v);
            maxV = maxV.max(v);
        }
        float min = minV.reduceLanes(VectorOperators.MIN);
        float s = (maxV.reduceLanes(VectorOperators.MAX) - min) * invLevels(levels);
        if (!(s > 0f)) {
            java.util.Arrays.fill(codes, codeOff, codeOff + n, 0);
        } else {
            FloatVector sv = FloatVector.broadcast(F, s);
            for (int i = 0; i < n; i += L) {
                FloatVector r = FloatVector.fromArray(F, x, off + i).sub(min);
                IntVector q = (IntVector) r.div(sv).add(0.5f).convert(VectorOperators.F2I, 0);
                q = q.max(0).min(levels);
                FloatVector qf = (FloatVector) q.convert(VectorOperators.I2F, 0);
                q = q.add(1, r.compare(VectorOperators.GE, qf.add(0.5f).mul(sv)).cast(I)
                        .and(q.compare(VectorOperators.LT, levels)));
                qf = (FloatVector) q.convert(VectorOperators.I2F, 0);
                q = q.sub(1, r.compare(VectorOperators.LT, qf.sub(0.5f).mul(sv)).cast(I)
                        .and(q.compare(VectorOperators.GT, 0)));
                q.intoArray(codes, codeOff + i);
            }
        }
        sz[szOff] = s;
        sz[szOff + 1] = min;
    }
}
