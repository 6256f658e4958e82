package dev.gale.kernels.norm;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Lanes;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * LayerNorm over rows: {@code y = (x − mean) / sqrt(var + eps) · g + b} with the biased (population) variance, one
 * mean and variance per row.
 *
 * <p>Two passes over the row (mean, then Σ(x − mean)²), so rows with a large mean and a small spread keep their
 * precision (no E[x²] − E[x]² cancellation). Layout as in {@link RmsNorm}: {@code x}, {@code out} are
 * {@code rows × dim} row-major F32; {@code g}, {@code b} are {@code dim} F32; {@code out} may be {@code x} in place.
 */
public final class LayerNorm {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final int PARALLEL_GRAIN_ELEMS = 1 << 15;

    private LayerNorm() {
    }

    /** The scalar reference: two-pass, double accumulation. */
    public static void reference(MemorySegment x, long xOff, MemorySegment g, long gOff, MemorySegment b, long bOff,
            MemorySegment out, long outOff, int rows, int dim, float eps) {
        check(x, xOff, g, gOff, b, bOff, out, outOff, rows, dim, eps);
        for (int r = 0; r < rows; r++) {
            long xo = xOff + (long) r * dim * Float.BYTES;
            long oo = outOff + (long) r * dim * Float.BYTES;
            double sum = 0;
            for (int i = 0; i < dim; i++) {
                sum += x.get(F32, xo + 4L * i);
            }
            double mean = sum / dim;
            double sq = 0;
            for (int i = 0; i < dim; i++) {
                double d = x.get(F32, xo + 4L * i) - mean;
                sq += d * d;
            }
            double rstd = 1.0 / Math.sqrt(sq / dim + eps);
            for (int i = 0; i < dim; i++) {
                double d = x.get(F32, xo + 4L * i) - mean;
                out.set(F32, oo + 4L * i, (float) (d * rstd * g.get(F32, gOff + 4L * i) + b.get(F32, bOff + 4L * i)));
            }
        }
    }

    /** Vector API implementation on the calling thread. Allocates nothing. */
    public static void apply(MemorySegment x, long xOff, MemorySegment g, long gOff, MemorySegment b, long bOff,
            MemorySegment out, long outOff, int rows, int dim, float eps) {
        check(x, xOff, g, gOff, b, bOff, out, outOff, rows, dim, eps);
        rows(x, xOff, g, gOff, b, bOff, out, outOff, 0, rows, dim, eps);
    }

    /**
     * Rows split over {@link WorkerPool#shared()}; one small capture object per call. The segments must be readable
     * from the pool's threads (a shared, global or auto arena, not a confined one).
     */
    public static void applyParallel(MemorySegment x, long xOff, MemorySegment g, long gOff, MemorySegment b,
            long bOff, MemorySegment out, long outOff, int rows, int dim, float eps) {
        check(x, xOff, g, gOff, b, bOff, out, outOff, rows, dim, eps);
        int grain = Math.max(1, PARALLEL_GRAIN_ELEMS / dim);
        WorkerPool.shared().parallelFor(rows, grain,
                (s, e) -> rows(x, xOff, g, gOff, b, bOff, out, outOff, s, e, dim, eps));
    }

    private static void check(MemorySegment x, long xOff, MemorySegment g, long gOff, MemorySegment b, long bOff,
            MemorySegment out, long outOff, int rows, int dim, float eps) {
        long n = Operands.elements("layernorm", rows, dim);
        Operands.requireF32("layernorm", "x", x, xOff, n);
        Operands.requireF32("layernorm", "g", g, gOff, dim);
        Operands.requireF32("layernorm", "b", b, bOff, dim);
        Operands.requireF32("layernorm", "out", out, outOff, n);
        if (!(eps >= 0) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException("layernorm: eps must be finite and >= 0, got " + eps);
        }
    }

    private static void rows(MemorySegment x, long xOff, MemorySegment g, long gOff, MemorySegment b, long bOff,
            MemorySegment out, long outOff, int from, int to, int dim, float eps) {
        long rowBytes = (long) dim * Float.BYTES;
        for (int r = from; r < to; r++) {
            row(x, xOff + r * rowBytes, g, gOff, b, bOff, out, outOff + r * rowBytes, dim, eps);
        }
    }

    private static void row(MemorySegment x, long xo, MemorySegment g, long go, MemorySegment b, long bo,
            MemorySegment out, long oo, int dim, float eps) {
        int bound2 = dim - dim % (2 * L);
        int bound = F.loopBound(dim);
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = FloatVector.zero(F);
        int i = 0;
        for (; i < bound2; i += 2 * L) {
            s0 = s0.add(FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER));
            s1 = s1.add(FloatVector.fromMemorySegment(F, x, xo + 4L * (i + L), ORDER));
        }
        for (; i < bound; i += L) {
            s0 = s0.add(FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER));
        }
        float sum = Lanes.sum(s0.add(s1));
        for (; i < dim; i++) {
            sum += x.get(F32, xo + 4L * i);
        }
        float mean0 = sum / dim;
        // Second pass: Σd and Σd² with d = x − mean0. Σd corrects the rounding of the first-pass mean (the corrected
        // two-pass algorithm), so a large mean with a small spread keeps the spread's precision.
        FloatVector c0 = FloatVector.zero(F);
        FloatVector c1 = FloatVector.zero(F);
        FloatVector q0 = FloatVector.zero(F);
        FloatVector q1 = FloatVector.zero(F);
        i = 0;
        for (; i < bound2; i += 2 * L) {
            FloatVector d0 = FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER).sub(mean0);
            FloatVector d1 = FloatVector.fromMemorySegment(F, x, xo + 4L * (i + L), ORDER).sub(mean0);
            c0 = c0.add(d0);
            c1 = c1.add(d1);
            q0 = d0.fma(d0, q0);
            q1 = d1.fma(d1, q1);
        }
        for (; i < bound; i += L) {
            FloatVector d0 = FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER).sub(mean0);
            c0 = c0.add(d0);
            q0 = d0.fma(d0, q0);
        }
        float c = Lanes.sum(c0.add(c1));
        float sq = Lanes.sum(q0.add(q1));
        for (; i < dim; i++) {
            float d = x.get(F32, xo + 4L * i) - mean0;
            c += d;
            sq = Math.fma(d, d, sq);
        }
        // The mean is kept as mean0 + corr, never rounded into one float: x − mean0 is exact for x near the mean,
        // so a large mean does not cost the spread its low bits.
        float corr = c / dim;
        double var = Math.max(0.0, ((double) sq - (double) c * c / dim) / dim);
        float rstd = (float) (1.0 / Math.sqrt(var + eps));
        i = 0;
        for (; i < bound; i += L) {
            FloatVector d = FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER).sub(mean0).sub(corr).mul(rstd);
            FloatVector gv = FloatVector.fromMemorySegment(F, g, go + 4L * i, ORDER);
            FloatVector bv = FloatVector.fromMemorySegment(F, b, bo + 4L * i, ORDER);
            d.fma(gv, bv).intoMemorySegment(out, oo + 4L * i, ORDER);
        }
        for (; i < dim; i++) {
            float d = (x.get(F32, xo + 4L * i) - mean0 - corr) * rstd;
            out.set(F32, oo + 4L * i, Math.fma(d, g.get(F32, go + 4L * i), b.get(F32, bo + 4L * i)));
        }
    }
}
