package dev.gale.kernels.activation;

import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Lanes;
import dev.gale.kernels.Operands;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
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
 * The exponential is {@link VectorMath#exp(FloatVector)}, written out inside the loop (same operations, same bits).
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

    /**
     * Rows split over {@link WorkerPool#shared()}; one small capture object per call. The segments must be readable
     * from the pool's threads (a shared, global or auto arena, not a confined one).
     */
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
        // Each pass runs over INNER-element pieces in its own method, so those methods are invoked many times and
        // compiled normally (a vocab row in one long loop would first get an OSR compilation, which boxes).
        float max = Float.NEGATIVE_INFINITY;
        for (int s = 0; s < dim; s += Operands.INNER) {
            max = Math.max(max, maxBlock(x, xo, s, Math.min(dim, s + Operands.INNER))); // NaN propagates
        }
        if (Float.isNaN(max) || Float.isInfinite(max)) {
            float fill = max == Float.NEGATIVE_INFINITY ? 0f : Float.NaN;
            for (int i = 0; i < dim; i++) {
                out.set(F32, oo + 4L * i, fill);
            }
            return;
        }
        float shift = -max * scale;
        float sum = 0;
        for (int s = 0; s < dim; s += Operands.INNER) {
            sum += expBlock(x, xo, out, oo, s, Math.min(dim, s + Operands.INNER), scale, shift);
        }
        float inv = 1f / sum;
        for (int s = 0; s < dim; s += Operands.INNER) {
            scaleBlock(out, oo, s, Math.min(dim, s + Operands.INNER), inv);
        }
    }

    private static float maxBlock(MemorySegment x, long xo, int from, int to) {
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = from;
        int bound = from + F.loopBound(to - from);
        for (; i < bound; i += L) {
            m = m.max(FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER));
        }
        float max = m.reduceLanes(VectorOperators.MAX);
        for (; i < to; i++) {
            max = Math.max(max, x.get(F32, xo + 4L * i));
        }
        return max;
    }

    /** Writes e = exp(s·x − s·max) over [from, to) and returns their sum. */
    private static float expBlock(MemorySegment x, long xo, MemorySegment out, long oo, int from, int to, float scale,
            float shift) {
        // The exp is VectorMath.exp written out in the loop body (Cody–Waite reduction, degree-5 polynomial,
        // exponent built in two halves), so that no FloatVector crosses a call boundary whatever the JIT's inlining
        // budget decides.
        FloatVector sumV = FloatVector.zero(F);
        FloatVector vLog2e = FloatVector.broadcast(F, VectorMath.LOG2E);
        FloatVector vShifter = FloatVector.broadcast(F, VectorMath.SHIFTER);
        FloatVector vLn2Hi = FloatVector.broadcast(F, -VectorMath.LN2_HI);
        FloatVector vLn2Lo = FloatVector.broadcast(F, -VectorMath.LN2_LO);
        FloatVector vE0 = FloatVector.broadcast(F, VectorMath.E0);
        FloatVector vE1 = FloatVector.broadcast(F, VectorMath.E1);
        FloatVector vE2 = FloatVector.broadcast(F, VectorMath.E2);
        FloatVector vE3 = FloatVector.broadcast(F, VectorMath.E3);
        FloatVector vE4 = FloatVector.broadcast(F, VectorMath.E4);
        FloatVector vE5 = FloatVector.broadcast(F, VectorMath.E5);
        int i = from;
        int bound = from + F.loopBound(to - from);
        for (; i < bound; i += L) {
            FloatVector arg = FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER).fma(scale, shift);
            FloatVector xc = arg.max(VectorMath.EXP_LO).min(VectorMath.EXP_HI);
            FloatVector t = xc.fma(vLog2e, vShifter);
            FloatVector n = t.sub(vShifter);
            IntVector ni = ((IntVector) t.reinterpretAsInts()).sub(VectorMath.SHIFTER_BITS);
            FloatVector r = n.fma(vLn2Hi, xc);
            r = n.fma(vLn2Lo, r);
            FloatVector p = r.fma(vE5, vE4);
            p = p.fma(r, vE3);
            p = p.fma(r, vE2);
            p = p.fma(r, vE1);
            p = p.fma(r, vE0);
            FloatVector y = p.fma(r.mul(r), r).add(1f);
            IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1);
            IntVector n2 = ni.sub(n1);
            FloatVector s1 = (FloatVector) n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            FloatVector s2 = (FloatVector) n2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            FloatVector e = y.mul(s1).mul(s2);
            e.intoMemorySegment(out, oo + 4L * i, ORDER);
            sumV = sumV.add(e);
        }
        float sum = Lanes.sum(sumV);
        for (; i < to; i++) {
            float e = VectorMath.exp(Math.fma(x.get(F32, xo + 4L * i), scale, shift));
            out.set(F32, oo + 4L * i, e);
            sum += e;
        }
        return sum;
    }

    private static void scaleBlock(MemorySegment out, long oo, int from, int to, float inv) {
        int i = from;
        int bound = from + F.loopBound(to - from);
        for (; i < bound; i += L) {
            FloatVector.fromMemorySegment(F, out, oo + 4L * i, ORDER).mul(inv)
                    .intoMemorySegment(out, oo + 4L * i, ORDER);
        }
        for (; i < to; i++) {
            out.set(F32, oo + 4L * i, out.get(F32, oo + 4L * i) * inv);
        }
    }
}
