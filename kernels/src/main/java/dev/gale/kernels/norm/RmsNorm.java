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
 * RMSNorm over rows: {@code y = x / sqrt(mean(x²) + eps) · w}, one statistic per row.
 *
 * <p>Layout: {@code x} and {@code out} are {@code rows × dim} row-major F32 (little endian) starting at the given byte
 * offsets; {@code w} is {@code dim} F32. {@code out} may be {@code x} at the same offset (in place); other partial
 * overlaps are not supported. The sum of squares is accumulated in F32 vector lanes, so |x| up to about 1e18 is safe
 * (the reference accumulates in double).
 */
public final class RmsNorm {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Elements per parallel chunk at least: below this a dispatch (~µs) costs more than it saves. */
    private static final int PARALLEL_GRAIN_ELEMS = 1 << 15;

    private RmsNorm() {
    }

    /** The scalar reference: double accumulation, one rounding per output. */
    public static void reference(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment out,
            long outOff, int rows, int dim, float eps) {
        check(x, xOff, w, wOff, out, outOff, rows, dim, eps);
        for (int r = 0; r < rows; r++) {
            long xo = xOff + (long) r * dim * Float.BYTES;
            long oo = outOff + (long) r * dim * Float.BYTES;
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                double v = x.get(F32, xo + 4L * i);
                ss += v * v;
            }
            double scale = 1.0 / Math.sqrt(ss / dim + eps);
            for (int i = 0; i < dim; i++) {
                double v = x.get(F32, xo + 4L * i);
                out.set(F32, oo + 4L * i, (float) (v * scale * w.get(F32, wOff + 4L * i)));
            }
        }
    }

    /** Vector API implementation on the calling thread. Allocates nothing. */
    public static void apply(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment out,
            long outOff, int rows, int dim, float eps) {
        check(x, xOff, w, wOff, out, outOff, rows, dim, eps);
        rows(x, xOff, w, wOff, out, outOff, 0, rows, dim, eps);
    }

    /**
     * Vector API implementation with rows split over {@link WorkerPool#shared()} when there are enough of them; one
     * small capture object is allocated per call. The segments must be readable from the pool's threads (a shared,
     * global or auto arena, not a confined one).
     */
    public static void applyParallel(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment out,
            long outOff, int rows, int dim, float eps) {
        check(x, xOff, w, wOff, out, outOff, rows, dim, eps);
        int grain = Math.max(1, PARALLEL_GRAIN_ELEMS / dim);
        WorkerPool.shared().parallelFor(rows, grain,
                (s, e) -> rows(x, xOff, w, wOff, out, outOff, s, e, dim, eps));
    }

    private static void check(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment out,
            long outOff, int rows, int dim, float eps) {
        long n = Operands.elements("rmsnorm", rows, dim);
        Operands.requireF32("rmsnorm", "x", x, xOff, n);
        Operands.requireF32("rmsnorm", "w", w, wOff, dim);
        Operands.requireF32("rmsnorm", "out", out, outOff, n);
        if (!(eps >= 0) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException("rmsnorm: eps must be finite and >= 0, got " + eps);
        }
    }

    private static void rows(MemorySegment x, long xOff, MemorySegment w, long wOff, MemorySegment out, long outOff,
            int from, int to, int dim, float eps) {
        long rowBytes = (long) dim * Float.BYTES;
        for (int r = from; r < to; r++) {
            row(x, xOff + r * rowBytes, w, wOff, out, outOff + r * rowBytes, dim, eps);
        }
    }

    private static void row(MemorySegment x, long xo, MemorySegment w, long wo, MemorySegment out, long oo, int dim,
            float eps) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        int bound2 = dim - dim % (2 * L);
        for (; i < bound2; i += 2 * L) {
            FloatVector v0 = FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER);
            FloatVector v1 = FloatVector.fromMemorySegment(F, x, xo + 4L * (i + L), ORDER);
            acc0 = v0.fma(v0, acc0);
            acc1 = v1.fma(v1, acc1);
        }
        int bound = F.loopBound(dim);
        for (; i < bound; i += L) {
            FloatVector v0 = FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER);
            acc0 = v0.fma(v0, acc0);
        }
        float ss = Lanes.sum(acc0.add(acc1));
        for (; i < dim; i++) {
            float v = x.get(F32, xo + 4L * i);
            ss = Math.fma(v, v, ss);
        }
        float scale = (float) (1.0 / Math.sqrt((double) ss / dim + eps));
        i = 0;
        for (; i < bound; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, xo + 4L * i, ORDER);
            FloatVector g = FloatVector.fromMemorySegment(F, w, wo + 4L * i, ORDER);
            v.mul(scale).mul(g).intoMemorySegment(out, oo + 4L * i, ORDER);
        }
        for (; i < dim; i++) {
            out.set(F32, oo + 4L * i, x.get(F32, xo + 4L * i) * scale * w.get(F32, wo + 4L * i));
        }
    }
}
