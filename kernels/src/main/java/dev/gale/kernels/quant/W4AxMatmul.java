package dev.gale.kernels.quant;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.gemm.GemmBlockScaled;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * W4A4 / W4A8 products (COMET §4.1 tile output): {@code Y[t][o] = Σ_b s_x[t,b] · Σ_{g ⊂ b} s_w[o,g] · Σ_{c ∈ g}
 * q_x[t,c]·q_w[o,c]} for {@link W4Weights} and {@link ActivationQuant}, GEMV ({@code tokens = 1}, decode) and GEMM
 * (prefill). W4A4 and W4A8 are the same kernel: the precision map only changed how the activations were quantized.
 *
 * <p><b>Vector API kernel</b> (written against {@code SPECIES_PREFERRED} through {@link QuantVectors}: {@code L}
 * int lanes, {@code L} code bytes per load). Per 128-element block of a row, each load of {@code L} code bytes is
 * sign-extended to int lanes once (a part-0 {@code B2I}, no shuffle) and COMET's conversion runs in the int lanes:
 * {@code v & −16} is {@code 16·q} of the high nibbles (the AND), {@code (v << 28) >> 24} of the low ones (the
 * nibble moved to the top, then down arithmetically). The {@code 16·q}
 * lanes convert to F32 and multiply-add the activations' codes (held as F32 by {@link ActivationQuant}, widened once
 * per quantization) per 32-element piece (four per block: low/high nibbles of bytes 0-31 and 32-63). <b>The piece
 * dots are exact integers in F32 lanes</b>: every product {@code 16·q_w·q_x} and every partial sum is an integer of
 * magnitude at most {@code 32·16·8·127 < 2^24}, so no FMA rounds; then <b>one scale FMA per piece</b> with
 * {@code s_w[o,g]·s_x[t,b]/16}. A piece lies in one group for every group size, so each piece's integer part is
 * exact (tested bit-exact against the integer reference); pieces of a 64- or 128-group are combined in F32.
 * Why F32 lanes and not int32: the Vector API has no VNNI/{@code vpmaddwd}, so int8 products widen to int32 and
 * multiply with {@code vpmulld} plus a separate add, against one FMA here; the int32 form of this same loop measured
 * about 1.4× slower on the 512×4096×4096 GEMM (3.5 against 5 GOP/s, one loaded 2-core machine). What also did not
 * intrinsify on JDK 25 / AVX2 (boxed vectors, ~20× slower): byte-lane shifts and scalar shift counts, part-1
 * {@code B2S}/{@code S2I} expansions, and a hand-unrolled block past C2's inlining node budget; hence the unpack
 * after the widening, vector shift counts, and the half-block loops.
 * The decode GEMV (one token) with group size 128 has its own kernel, {@code gemv4}: four rows per pass sharing
 * each activation load, and one XOR, one shift, two conversions and two FMAs per code byte (see there); measured
 * about 2× the piece kernel's speed on the 4096 → 14336 GEMV.
 *
 * <p><b>GEMM</b> (more than one token) is {@link GemmBlockScaled}: the F32 GEMM's register-tiled micro-kernel over
 * weight panels decoded to F32 integer codes once per group ({@link W4Panels}) and reused by every token, each
 * tile's exact group sums scaled by {@code s_w·s_x} as they are added into Y. Per multiply-add that is one FMA, where
 * unpacking in the inner loop (the piece kernel, 4 tokens × 1 row) cost an unpack, a conversion and an activation
 * load per FMA; measured about 4× faster (512 tokens × 1024 rows × 4096, one thread: 27-36 GFLOP/s against 6.4-7.7,
 * the F32 GEMM 38-54 in the same runs). An AVX2 core has no instruction the Vector API reaches
 * that does more int8 multiply-adds per cycle than F32 FMA does (no {@code vpmaddubsw}/{@code vpmaddwd}, no VNNI),
 * so the W4A4 GEMM is bounded by the F32 GEMM's speed here, plus the decode and scale overhead.
 * Entry points without {@code Parallel} run on the caller; the {@code Parallel} ones split rows (GEMV) or panels or
 * tokens (GEMM) over {@link WorkerPool#shared()}. Where the preferred shape is not 256 or 512 bits
 * ({@code QuantVectors.VECTOR_OK} false) they run the reference.
 *
 * <p><b>Numerics.</b> The reference sums exact per-group integer dots, scaled in double. The kernels' F32 result is
 * within {@code Numerics.dotBound(Σ_c |s_x q_x · s_w q_w|, in)} of it (the rounding of {@code s_w·s_x}, the scale
 * FMAs or products and the sums across groups and lanes).
 */
public final class W4AxMatmul {
    static final boolean VECTOR_OK = QuantVectors.VECTOR_OK;
    private static final VectorSpecies<Byte> B = QuantVectors.B;
    private static final VectorSpecies<Integer> I = QuantVectors.I;
    private static final VectorSpecies<Float> F = QuantVectors.F;
    /** Lanes per vector; a 32-element piece is {@code 32 / L} steps. */
    private static final int L = QuantVectors.L;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = QuantVectors.F32;
    private static final int BLOCK = W4Weights.BLOCK;
    // Shift counts and masks as vectors: the scalar-count forms did not intrinsify here (JDK 25, AVX2; 20× slower).
    private static final IntVector C28 = IntVector.broadcast(I, 28);
    private static final IntVector C24 = IntVector.broadcast(I, 24);
    private static final IntVector M16 = IntVector.broadcast(I, -16);
    private static final IntVector C8 = IntVector.broadcast(I, 8);
    private static final IntVector C4 = IntVector.broadcast(I, 4);
    private static final FloatVector FM16 = FloatVector.broadcast(F, -16f);
    private static final FloatVector FM8 = FloatVector.broadcast(F, -8f);

    private W4AxMatmul() {
    }

    // ------------------------------------------------------------------ reference

    /** Exact integer dot {@code Σ q_x·q_w} of group {@code g} of row {@code o} with token {@code t}. */
    public static int groupDot(W4Weights w, ActivationQuant x, int t, int o, int g) {
        int s = 0;
        for (int c = g * w.group(); c < (g + 1) * w.group(); c++) {
            s += x.code(t, c) * w.code(o, c);
        }
        return s;
    }

    /** {@code Y[t][o]} in double: exact integer dot per group, then {@code s_x·s_w} per group. */
    public static double reference(W4Weights w, ActivationQuant x, int t, int o) {
        check(w, x);
        double sum = 0;
        for (int g = 0; g < w.in() / w.group(); g++) {
            int c0 = g * w.group();
            sum += (double) x.scale(t, c0 / BLOCK) * w.scale(o, c0) * groupDot(w, x, t, o, g);
        }
        return sum;
    }

    /** {@code Σ_c |s_x q_x · s_w q_w|}: the scale of {@link #reference}'s rounding error. */
    public static double sumAbs(W4Weights w, ActivationQuant x, int t, int o) {
        double sum = 0;
        for (int c = 0; c < w.in(); c++) {
            sum += Math.abs((double) x.scale(t, c / BLOCK) * x.code(t, c) * w.scale(o, c) * w.code(o, c));
        }
        return sum;
    }

    /** The reference for every token and row, rounded to F32 into {@code y[tokens][rows]} at {@code yOff}. */
    public static void reference(W4Weights w, ActivationQuant x, MemorySegment y, long yOff) {
        checkOut(w, x, y, yOff);
        for (int t = 0; t < x.tokens(); t++) {
            for (int o = 0; o < w.rows(); o++) {
                y.set(F32, yOff + 4L * ((long) t * w.rows() + o), (float) reference(w, x, t, o));
            }
        }
    }

    // ------------------------------------------------------------------ Vector API

    /** {@code Y = X·Wᵀ} for all tokens and rows, split over the shared worker pool. */
    public static void matmulParallel(W4Weights w, ActivationQuant x, MemorySegment y, long yOff) {
        checkOut(w, x, y, yOff);
        if (x.tokens() > 1 && VECTOR_OK) {
            GemmBlockScaled.gemm(W4Panels.CODEC, w, x.wide(), 0, x.scales(), 0, BLOCK, y, yOff, x.tokens(),
                    w.rows(), w.in());
            return;
        }
        // in 4-row groups, so every thread's range runs gemv4 throughout
        WorkerPool.shared().parallelFor((w.rows() + 3) / 4, 64,
                (s, e) -> rows(w, x, y, yOff, 4 * s, Math.min(w.rows(), 4 * e)));
    }

    /**
     * Rows {@code [rowStart, rowEnd)} for all tokens on the calling thread; the GEMV allocates nothing, the GEMM one
     * small descriptor per call (and its thread's packing scratch once).
     */
    public static void matmul(W4Weights w, ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        checkOut(w, x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, w.rows());
        if (x.tokens() > 1 && VECTOR_OK) {
            GemmBlockScaled.outputs(W4Panels.CODEC, w, x.wide(), 0, x.scales(), 0, BLOCK, y, yOff, x.tokens(),
                    w.rows(), w.in(), rowStart, rowEnd);
            return;
        }
        rows(w, x, y, yOff, rowStart, rowEnd);
    }

    /** The GEMV ({@code tokens == 1}), or the reference where the vector shape is unsupported. */
    private static void rows(W4Weights w, ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        int rows = w.rows();
        int tokens = x.tokens();
        if (!VECTOR_OK) {
            for (int t = 0; t < tokens; t++) {
                for (int o = rowStart; o < rowEnd; o++) {
                    y.set(F32, yOff + 4L * ((long) t * rows + o), (float) reference(w, x, t, o));
                }
            }
            return;
        }
        if (w.group() == BLOCK) {
            int o = rowStart;
            for (; o + 4 <= rowEnd; o += 4) {
                gemv4(w, x, o, y, yOff + 4L * o);
            }
            for (; o < rowEnd; o++) {
                y.set(F32, yOff + 4L * o, gemv1(w, x, o));
            }
            return;
        }
        for (int o = rowStart; o < rowEnd; o++) {
            y.set(F32, yOff + 4L * o, row1(w, x, 0, o));
        }
    }

    /** {@code L} code bytes at {@code off}, sign-extended to int lanes (a part-0 widening, no shuffle). */
    private static IntVector load(MemorySegment wc, long off) {
        return (IntVector) ByteVector.fromMemorySegment(B, wc, off, LE).convertShape(VectorOperators.B2I, I, 0);
    }

    /** {@code 16·q} of the low nibbles: the nibble shifted to the top of the lane, then down arithmetically by 24. */
    private static IntVector lo(IntVector v) {
        return v.lanewise(VectorOperators.LSHL, C28).lanewise(VectorOperators.ASHR, C24);
    }

    /** {@code 16·q} of the high nibbles: the sign-extended byte with its low nibble cleared (COMET's AND). */
    private static IntVector hi(IntVector v) {
        return v.and(M16);
    }

    private static FloatVector mac(IntVector w16, MemorySegment a, long ao, FloatVector acc) {
        return ((FloatVector) w16.convertShape(VectorOperators.I2F, F, 0))
                .lanewise(VectorOperators.FMA, FloatVector.fromMemorySegment(F, a, ao, LE), acc);
    }

    private static FloatVector fma(FloatVector dot, float scale, FloatVector acc) {
        return dot.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, scale), acc);
    }

    /**
     * The lanes of one piece's integer dot, {@code 16·Σ q_x·q_w} over 32 elements (exact integers in F32): piece
     * {@code p} of a block takes the low ({@code p < 2}) or high nibbles of bytes {@code 32·(p & 1) .. +31} at
     * {@code wb}, and the F32 activation codes at byte {@code ap}.
     */
    private static FloatVector piece(MemorySegment wc, long wb, int p, MemorySegment a, long ap) {
        FloatVector d = FloatVector.zero(F);
        long w0 = wb + 32L * (p & 1);
        for (int k = 0; k < 32; k += L) {
            IntVector v = load(wc, w0 + k);
            d = mac(p < 2 ? lo(v) : hi(v), a, ap + 4L * k, d);
        }
        return d;
    }

    /** Package-private for the exactness test: {@code 16·Σ q_x·q_w} of piece {@code p} of block {@code b}. */
    static int pieceDot16(W4Weights w, ActivationQuant x, int t, int o, int b, int p) {
        long wb = (long) o * (w.in() / 2) + 64L * b;
        long ap = 4L * ((long) t * w.in() + (long) b * BLOCK + 32L * p);
        return (int) piece(w.codes(), wb, p, x.wide(), ap).reduceLanes(VectorOperators.ADD);
    }

    /** One token · one row. */
    private static float row1(W4Weights w, ActivationQuant x, int t, int o) {
        MemorySegment wc = w.codes();
        MemorySegment ws = w.scales();
        MemorySegment a = x.wide();
        MemorySegment as = x.scales();
        int in = w.in();
        int group = w.group();
        int blocks = in / BLOCK;
        long wRow = (long) o * (in / 2);
        long sRow = 4L * o * (in / group);
        int gShift = Integer.numberOfTrailingZeros(group); // group is 32, 64 or 128: a shift, not a division
        long aTok = 4L * t * in;
        long asTok = 4L * t * blocks;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long wb = wRow + 64L * b;
            long ab = aTok + 512L * b;
            float sx = as.get(F32, asTok + 4L * b) * 0x1p-4f;
            int e = b * BLOCK;
            // half h: bytes 32h..32h+31, whose low nibbles are piece h and high nibbles piece 2 + h (one load and
            // widening for both). A loop, not unrolled by hand: the unrolled block exceeded C2's inlining node budget,
            // and a helper left out of line boxes its vectors.
            for (int h = 0; h < 2; h++) {
                FloatVector dl = FloatVector.zero(F);
                FloatVector dh = dl;
                for (int k = 0; k < 32; k += L) {
                    IntVector v = load(wc, wb + 32 * h + k);
                    dl = mac(lo(v), a, ab + 4L * (32 * h + k), dl);
                    dh = mac(hi(v), a, ab + 4L * (64 + 32 * h + k), dh);
                }
                acc = fma(dl, sx * ws.get(F32, sRow + 4L * ((e + 32 * h) >>> gShift)), acc);
                acc = fma(dh, sx * ws.get(F32, sRow + 4L * ((e + 64 + 32 * h) >>> gShift)), acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /**
     * The decode GEMV for group size 128 (one scale per row and block): rows {@code o..o+3} · token 0, the four rows'
     * code streams read side by side so each activation load serves four rows (as in {@link Q4_0Packed}).
     *
     * <p>Per byte {@code v} (sign-extended to an int lane: {@code v = lo_u + 16·hi} with the low nibble read
     * unsigned, the high one signed) the two products {@code lo·x_l + hi·x_h} are formed from two conversions and
     * two FMAs and one XOR, no mask: {@code v ^ 8} is {@code (lo + 8) + 16·hi} (flipping bit 3 moves the signed low
     * nibble to {@code lo + 8} in 0..15), so {@code (v ^ 8)·x_l + (v >> 4)·(x_h − 16·x_l) = lo·x_l + hi·x_h + 8·x_l}.
     * {@code x_h − 16·x_l} is formed once per activation vector for the four rows and {@code −8·Σ x_l} once per block
     * (it starts each row's block sum). Both element halves of a byte share the block's one scale, hence group 128
     * only. Exactness as in the piece kernels: codes |v| ≤ 128, |x| ≤ 127, so every partial sum of a block is an
     * integer of magnitude below {@code 64·(128·128 + 8·17·128) + 8·64·128 < 2^22}; one scale FMA per row and block.
     */
    private static void gemv4(W4Weights w, ActivationQuant x, int o, MemorySegment y, long yo) {
        MemorySegment wc = w.codes();
        MemorySegment ws = w.scales();
        MemorySegment a = x.wide();
        MemorySegment as = x.scales();
        int in = w.in();
        int blocks = in / BLOCK;
        long rb = in / 2;
        long w0 = (long) o * rb;
        long w1 = w0 + rb;
        long w2 = w1 + rb;
        long w3 = w2 + rb;
        long s0 = 4L * o * blocks;
        long sStep = 4L * blocks;
        FloatVector c0 = FloatVector.zero(F);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        for (int b = 0; b < blocks; b++) {
            long ab = 512L * b;
            FloatVector sl = FloatVector.fromMemorySegment(F, a, ab, LE);
            for (int j = L; j < BLOCK / 2; j += L) {
                sl = sl.add(FloatVector.fromMemorySegment(F, a, ab + 4L * j, LE));
            }
            FloatVector m8 = sl.mul(FM8);
            FloatVector p0 = m8;
            FloatVector p1 = m8;
            FloatVector p2 = m8;
            FloatVector p3 = m8;
            long wb = 64L * b;
            for (int j = 0; j < BLOCK / 2; j += L) {
                FloatVector xl = FloatVector.fromMemorySegment(F, a, ab + 4L * j, LE);
                FloatVector xd = xl.fma(FM16, FloatVector.fromMemorySegment(F, a, ab + 4L * (BLOCK / 2 + j), LE));
                p0 = mac2(load(wc, w0 + wb + j), xl, xd, p0);
                p1 = mac2(load(wc, w1 + wb + j), xl, xd, p1);
                p2 = mac2(load(wc, w2 + wb + j), xl, xd, p2);
                p3 = mac2(load(wc, w3 + wb + j), xl, xd, p3);
            }
            float sx = as.get(F32, 4L * b);
            long sb = s0 + 4L * b;
            c0 = p0.fma(FloatVector.broadcast(F, sx * ws.get(F32, sb)), c0);
            c1 = p1.fma(FloatVector.broadcast(F, sx * ws.get(F32, sb + sStep)), c1);
            c2 = p2.fma(FloatVector.broadcast(F, sx * ws.get(F32, sb + 2 * sStep)), c2);
            c3 = p3.fma(FloatVector.broadcast(F, sx * ws.get(F32, sb + 3 * sStep)), c3);
        }
        y.set(F32, yo, c0.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 4, c1.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 8, c2.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 12, c3.reduceLanes(VectorOperators.ADD));
    }

    /**
     * One row of {@link #gemv4} (a range's leftover rows), with the same operations in the same order, so a row's
     * bits do not depend on how the rows were split.
     */
    private static float gemv1(W4Weights w, ActivationQuant x, int o) {
        MemorySegment wc = w.codes();
        MemorySegment a = x.wide();
        int in = w.in();
        int blocks = in / BLOCK;
        long w0 = (long) o * (in / 2);
        long s0 = 4L * o * blocks;
        FloatVector c = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long ab = 512L * b;
            FloatVector sl = FloatVector.fromMemorySegment(F, a, ab, LE);
            for (int j = L; j < BLOCK / 2; j += L) {
                sl = sl.add(FloatVector.fromMemorySegment(F, a, ab + 4L * j, LE));
            }
            FloatVector p = sl.mul(FM8);
            long wb = 64L * b;
            for (int j = 0; j < BLOCK / 2; j += L) {
                FloatVector xl = FloatVector.fromMemorySegment(F, a, ab + 4L * j, LE);
                FloatVector xd = xl.fma(FM16, FloatVector.fromMemorySegment(F, a, ab + 4L * (BLOCK / 2 + j), LE));
                p = mac2(load(wc, w0 + wb + j), xl, xd, p);
            }
            float sx = x.scales().get(F32, 4L * b);
            c = p.fma(FloatVector.broadcast(F, sx * w.scales().get(F32, s0 + 4L * b)), c);
        }
        return c.reduceLanes(VectorOperators.ADD);
    }

    /** {@code acc + (v ^ 8)·xl + (v >> 4)·xd} in F32 lanes (see {@link #gemv4}). */
    private static FloatVector mac2(IntVector v, FloatVector xl, FloatVector xd, FloatVector acc) {
        FloatVector lo = (FloatVector) v.lanewise(VectorOperators.XOR, C8).convertShape(VectorOperators.I2F, F, 0);
        FloatVector hi = (FloatVector) v.lanewise(VectorOperators.ASHR, C4).convertShape(VectorOperators.I2F, F, 0);
        return hi.fma(xd, lo.fma(xl, acc));
    }

    // ------------------------------------------------------------------ checks

    static void check(W4Weights w, ActivationQuant x) {
        if (w.in() != x.in()) {
            throw new ShapeMismatchException("W4Ax matmul: weights have " + w.in() + " columns, the activations "
                    + x.in());
        }
        if (x.tokens() == 0) {
            throw new ShapeMismatchException("W4Ax matmul: the activations hold no tokens (quantize first)");
        }
    }

    private static void checkOut(W4Weights w, ActivationQuant x, MemorySegment y, long yOff) {
        check(w, x);
        QuantVectors.requireBytes(y, yOff, 4L * x.tokens() * w.rows(), "W4Ax matmul output");
    }
}
