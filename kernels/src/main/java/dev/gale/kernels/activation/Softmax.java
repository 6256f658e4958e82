package dev.gale.kernels.activation;

import static dev.gale.kernels.activation.Operands.F32;
import static dev.gale.kernels.activation.Operands.ORDER;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-wise softmax with an optional scale (inverse temperature): {@code y_i = exp(s·x_i − s·max) / Σ_j exp(s·x_j −
 * s·max)}, one row of {@code dim} F32 per token (vocab logits) or per query head (attention scores).
 *
 * <p>Contract for special rows, the same in the reference and the vector path:
 * <ul>
 *   <li>{@code -Inf} entries (masked) give exactly 0; the rest of the row is normalised over the unmasked entries;</li>
 *   <li>a row that is entirely {@code -Inf} (fully masked) gives all zeros, not NaN — the same guard as the
 *       online-softmax merge of DESIGN.md ("fully masked blocks produce zeros, not NaN");</li>
 *   <li>a row holding a NaN or a {@code +Inf} gives all NaN (there is no meaningful distribution);</li>
 *  <li>a row of equal values gives one value in every entry, 1/dim to within rounding.</li>
 * </ul>
 * Layout: {@code x}, {@code out} are {@code rows × dim} row-major; {@code out} may be {@code x} at the same offset.
 * The exponential is {@link VectorMath#exp(FloatVector)}, inlined into the loop by C2.
 */
public final class Softmax {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final int PARALLEL_GRAIN_ELEMS = 1 << 15;

    private Softmax() {
    }

    /** The scalar reference: double exp and sum, one rounding per output. */
    public static void reference(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int dim,
            float scale) {
        check(x, xOff, out, outOff, rows, dim, scale);
        for (int r = 0; r < rows; r++) {
            long xo = xOff + (long) r * dim * Float.BYTES;
            long oo = outOff + (long) r * dim * Float.BYTES;
            double max = Double.NEGATIVE_INFINITY;
            boolean nan = false;
            for (int i = 0; i < dim; i++) {
                float v = x.get(F32, xo + 4L * i);
                nan |= Float.isNaN(v);
                max = Math.max(max, v);
            }
            if (nan || max == Double.POSITIVE_INFINITY || max == Double.NEGATIVE_INFINITY) {
                float fill = max == Double.NEGATIVE_INFINITY && !nan ? 0f : Float.NaN;
                for (int i = 0; i < dim; i++) {
                    out.set(F32, oo + 4L * i, fill);
                }
                continue;
            }
            double sum = 0;
            for (int i = 0; i < dim; i++) {
                sum += Math.exp(((double) x.get(F32, xo + 4L * i) - max) * scale);
            }
            for (int i = 0; i < dim; i++) {
                double e = Math.exp(((double) x.get(F32, xo + 4L * i) - max) * scale);
                out.set(F32, oo + 4L * i, (float) (e / sum));
            }
        }
    }

    /** Unscaled softmax (scale 1), vector path on the calling thread. */
    public static void apply(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int dim) {
        apply(x, xOff, out, outOff, rows, dim, 1f);
    }

    /** Vector API implementation on the calling thread. Allocates nothing. */
    public static void apply(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int dim,
            float scale) {
        check(x, xOff, out, outOff, rows, dim, scale);
        rows(x, xOff, out, outOff, 0, rows, dim, scale);
    }

    /** Rows split over {@link WorkerPool#shared()}; one small capture object per call. */
    public static void applyParallel(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int dim,
            float scale) {
        check(x, xOff, out, outOff, rows, dim, scale);
        int grain = Math.max(1, PARALLEL_GRAIN_ELEMS / dim);
        WorkerPool.shared().parallelFor(rows, grain, (s, e) -> rows(x, xOff, out, outOff, s, e, dim, scale));
    }

    private static void check(MemorySegment x, long xOff, MemorySegment out, long outOff, int rows, int dim,
            float scale) {
        long n = Operands.elements("softmax", rows, dim);
        Operands.requireF32("softmax", "x", x, xOff, n);
        Operands.requireF32("softmax", "out", out, outOff, n);
        if (!(scale > 0) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("softmax: scale must be finite and > 0, got " + scale);
        }
    }

    private static void rows(MemorySegment x, long xOff, MemorySegment out, long outOff, int from, int to, int dim,
            float scale) {
        long rowBytes = (long) dim * Float.BYTES;
        for (int r = from; r < to; r++) {
            row(x, xOff + r * rowBytes, out, outOff + r * rowBytes, dim, scale);
        }
    }

    private static void row(MemorySegment x, long xo, MemorySegment out, long oo, int dim, float scale) {
        int bound = F.loopBound(dim);
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i < bound; i += L) {
            m = m.max(FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER)); // NaN propagates
        }
        float max = m.reduceLanes(VectorOperators.MAX);
        for (; i < dim; i++) {
            max = Math.max(max, x.get(F32, xo + 4L * i));
        }
        if (Float.isNaN(max) || Float.isInfinite(max)) {
            float fill = max == Float.NEGATIVE_INFINITY ? 0f : Float.NaN;
            for (i = 0; i < dim; i++) {
                out.set(F32, oo + 4L * i, fill);
            }
            return;
        }
        float shift = -max * scale;
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = FloatVector.zero(F);
        int bound2 = dim - dim % (2 * L);
        i = 0;
        for (; i < bound2; i += 2 * L) {
            FloatVector v0 = FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER);
            FloatVector v1 = FloatVector.fromMemorySegment(F, x, xo + 4L * (i + L), ORDER);
            FloatVector e0 = VectorMath.exp(v0.fma(scale, shift));
            FloatVector e1 = VectorMath.exp(v1.fma(scale, shift));
            e0.intoMemorySegment(out, oo + 4L * i, ORDER);
            e1.intoMemorySegment(out, oo + 4L * (i + L), ORDER);
            s0 = s0.add(e0);
            s1 = s1.add(e1);
        }
        for (; i < bound; i += L) {
            FloatVector e0 = VectorMath.exp(FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER).fma(scale, shift));
            e0.intoMemorySegment(out, oo + 4L * i, ORDER);
            s0 = s0.add(e0);
        }
        float sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < dim; i++) {
            float e = VectorMath.exp(Math.fma(x.get(F32, xo + 4L * i), scale, shift));
            out.set(F32, oo + 4L * i, e);
            sum += e;
        }
        float inv = 1f / sum;
        i = 0;
        for (; i < bound; i += L) {
            FloatVector.fromMemorySegment(F, out, oo + 4L * i, ORDER).mul(inv).intoMemorySegment(out, oo + 4L * i, ORDER);
        }
        for (; i < dim; i++) {
            out.set(F32, oo + 4L * i, out.get(F32, oo + 4L * i) * inv);
        }
    }
}
