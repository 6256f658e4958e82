package dev.gale.kernels.gemm;

import static dev.gale.kernels.gemm.Operands.F16;
import static dev.gale.kernels.gemm.Operands.F32;
import static dev.gale.kernels.gemm.Operands.LE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-tiled GEMM behind {@link GemmF32} and {@link GemmF16}: {@code Y[t][o] = Σ_i X[t][i] · W[o][i]}.
 *
 * <p>Blocking (BLIS-style, outer-product micro-kernel):
 * <ul>
 *   <li>Outputs are cut into panels of {@link #NR} = {@link #NV} vectors. For each panel and each block of
 *       {@link #KC} inputs, the weights are packed once into a contiguous, input-major F32 panel
 *       {@code wp[k][0..NR)} (zero-padded past the last output). This is the only place F32 and F16 weights differ:
 *       F16 is decoded while packing, so the micro-kernel only ever sees F32.</li>
 *   <li>The packed panel (KC·NR floats, L1/L2-resident) is then reused by every token: the micro-kernel holds an
 *       {@link #MR} tokens × {@code NV} vectors tile of accumulators in registers; per input element it loads
 *       {@code NV} weight vectors and broadcasts {@code MR} activations straight from the rows of {@code X}
 *       (no activation packing: X is already input-contiguous), then does {@code MR·NV} FMAs.</li>
 *   <li>After each input block the tile is spilled to a small per-thread array and added into {@code Y} (stored on
 *       the first block), whole vectors then scalars at the right edge; leftover tokens use a one-token kernel.</li>
 * </ul>
 * Accumulation is F32 in input order within a block, blocks summed in order; the error is within
 * {@link dev.gale.kernels.Numerics#dotBound} of the exact dot product.
 */
final class GemmKernel {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    /** Weight vectors per register tile (outputs per panel = NV·L). */
    static final int NV = 3;
    /** Outputs per packed panel. */
    static final int NR = NV * L;
    /** Tokens per register tile: MR·NV accumulators + NV weights + 1 broadcast fit even AVX2's 16 registers. */
    static final int MR = 4;
    /** Inputs per packed block; {@code -Dgale.gemm.kc} overrides (clamped to [16, 4096]). */
    static final int KC = Math.clamp(Integer.getInteger("gale.gemm.kc", 256), 16, 4096);

    /** Per-thread scratch of fixed size, allocated on a thread's first call. */
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** A packed weight panel and the spilled accumulator tile. */
    private static final class Scratch {
        final float[] panel = new float[KC * NR];
        final float[] tile = new float[MR * NR];
    }

    private GemmKernel() {
    }

    /**
     * Computes outputs {@code [outStart, outEnd)} of every token on the calling thread. Panels start at
     * {@code outStart}.
     */
    static void outputs(boolean half, MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y,
            long yOff, int tokens, int out, int in, int outStart, int outEnd) {
        Scratch scratch = SCRATCH.get();
        float[] wp = scratch.panel;
        float[] acc = scratch.tile;
        long ldx = 4L * in;
        long ldy = 4L * out;
        for (int p = outStart; p < outEnd; p += NR) {
            int nr = Math.min(NR, outEnd - p);
            for (int k0 = 0; k0 < in; k0 += KC) {
                int kc = Math.min(KC, in - k0);
                pack(half, w, wOff, in, p, nr, k0, kc, wp);
                boolean first = k0 == 0;
                long xk = xOff + 4L * k0;
                long yp = yOff + 4L * p;
                int t = 0;
                for (; t + MR <= tokens; t += MR) {
                    tile(x, xk + t * ldx, ldx, wp, kc, acc);
                    merge(acc, MR, y, yp + t * ldy, ldy, nr, first);
                }
                for (; t < tokens; t++) {
                    tile1(x, xk + t * ldx, wp, kc, acc);
                    merge(acc, 1, y, yp + t * ldy, ldy, nr, first);
                }
            }
        }
    }

    /** {@code wp[k·NR + j] = W[p + j][k0 + k]} for j < nr, and 0 for nr ≤ j < NR. */
    static void pack(boolean half, MemorySegment w, long wOff, int in, int p, int nr, int k0, int kc, float[] wp) {
        long rowBytes = (long) in * (half ? 2 : 4);
        for (int j = 0; j < nr; j++) {
            long row = wOff + (p + j) * rowBytes;
            if (half) {
                long src = row + 2L * k0;
                for (int k = 0; k < kc; k++) {
                    wp[k * NR + j] = Float.float16ToFloat(w.get(F16, src + 2L * k));
                }
            } else {
                long src = row + 4L * k0;
                for (int k = 0; k < kc; k++) {
                    wp[k * NR + j] = w.get(F32, src + 4L * k);
                }
            }
        }
        if (nr < NR) {
            for (int k = 0; k < kc; k++) {
                java.util.Arrays.fill(wp, k * NR + nr, (k + 1) * NR, 0f);
            }
        }
    }

    /** MR tokens × NR outputs over kc inputs, into {@code acc[MR][NR]}. */
    private static void tile(MemorySegment x, long x0, long ldx, float[] wp, int kc, float[] acc) {
        long x1 = x0 + ldx;
        long x2 = x1 + ldx;
        long x3 = x2 + ldx;
        FloatVector c00 = FloatVector.zero(F);
        FloatVector c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        for (int k = 0, wi = 0; k < kc; k++, wi += NR) {
            FloatVector w0 = FloatVector.fromArray(F, wp, wi);
            FloatVector w1 = FloatVector.fromArray(F, wp, wi + L);
            FloatVector w2 = FloatVector.fromArray(F, wp, wi + 2 * L);
            long o = 4L * k;
            FloatVector b = FloatVector.broadcast(F, x.get(F32, x0 + o));
            c00 = w0.fma(b, c00);
            c01 = w1.fma(b, c01);
            c02 = w2.fma(b, c02);
            b = FloatVector.broadcast(F, x.get(F32, x1 + o));
            c10 = w0.fma(b, c10);
            c11 = w1.fma(b, c11);
            c12 = w2.fma(b, c12);
            b = FloatVector.broadcast(F, x.get(F32, x2 + o));
            c20 = w0.fma(b, c20);
            c21 = w1.fma(b, c21);
            c22 = w2.fma(b, c22);
            b = FloatVector.broadcast(F, x.get(F32, x3 + o));
            c30 = w0.fma(b, c30);
            c31 = w1.fma(b, c31);
            c32 = w2.fma(b, c32);
        }
        c00.intoArray(acc, 0);
        c01.intoArray(acc, L);
        c02.intoArray(acc, 2 * L);
        c10.intoArray(acc, NR);
        c11.intoArray(acc, NR + L);
        c12.intoArray(acc, NR + 2 * L);
        c20.intoArray(acc, 2 * NR);
        c21.intoArray(acc, 2 * NR + L);
        c22.intoArray(acc, 2 * NR + 2 * L);
        c30.intoArray(acc, 3 * NR);
        c31.intoArray(acc, 3 * NR + L);
        c32.intoArray(acc, 3 * NR + 2 * L);
    }

    /** One token × NR outputs over kc inputs (leftover tokens), into {@code acc[0][NR]}. */
    private static void tile1(MemorySegment x, long x0, float[] wp, int kc, float[] acc) {
        FloatVector c0 = FloatVector.zero(F);
        FloatVector c1 = c0, c2 = c0;
        for (int k = 0, wi = 0; k < kc; k++, wi += NR) {
            FloatVector b = FloatVector.broadcast(F, x.get(F32, x0 + 4L * k));
            c0 = FloatVector.fromArray(F, wp, wi).fma(b, c0);
            c1 = FloatVector.fromArray(F, wp, wi + L).fma(b, c1);
            c2 = FloatVector.fromArray(F, wp, wi + 2 * L).fma(b, c2);
        }
        c0.intoArray(acc, 0);
        c1.intoArray(acc, L);
        c2.intoArray(acc, 2 * L);
    }

    /**
     * Stores (first input block) or adds {@code acc[rows][0..nr)} into the Y rows at byte {@code y0}, {@code ldy}
     * bytes apart. Whole vectors, then scalars for the right edge (no masks: they are slow on AVX2).
     */
    private static void merge(float[] acc, int rows, MemorySegment y, long y0, long ldy, int nr, boolean first) {
        int nv = nr - nr % L;
        for (int i = 0; i < rows; i++) {
            long yr = y0 + i * ldy;
            int a = i * NR;
            int j = 0;
            for (; j < nv; j += L) {
                FloatVector c = FloatVector.fromArray(F, acc, a + j);
                if (!first) {
                    c = c.add(FloatVector.fromMemorySegment(F, y, yr + 4L * j, LE));
                }
                c.intoMemorySegment(y, yr + 4L * j, LE);
            }
            for (; j < nr; j++) {
                float c = acc[a + j];
                y.set(F32, yr + 4L * j, first ? c : c + y.get(F32, yr + 4L * j));
            }
        }
    }
}
