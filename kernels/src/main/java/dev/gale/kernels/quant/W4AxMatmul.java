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
 * each activation load, one XOR, one shift, two conversions and two FMAs per code byte, and 32-element sub-blocks
 * so each row's dependency chain stays short (see there).
 *
 * <p><b>GEMM</b> (more than one token) is {@link GemmBlockScaled}: the F32 GEMM's register-tiled micro-kernel over
 * weight panels decoded to F32 integer codes once per group ({@link W4Panels}) and reused by every token, each
 * tile's exact group sums scaled by {@code s_w·s_x} as they are added into Y. Per multiply-add that is one FMA, where
 * unpacking in the inner loop (the piece kernel, 4 tokens × 1 row) cost an unpack, a conversion and an activation
 * load per FMA; measured about 4× faster (512 tokens × 1024 rows × 4096, one thread: 27-36 GFLOP/s against 6.4-7.7,
 * the F32 GEMM 38-54 in the same runs). An AVX2 core has no instruction the Vector API reaches
 * that does more int8 multiply-adds per cycle than F32 FMA does (no {@code vpmaddubsw}/{@code vpmaddwd}, no VNNI),
 * so A4 blocks carry <b>two products per F32 lane</b> instead: the GEMM marks them pairable and
 * {@code GemmBlockScaled} packs two weight columns per lane ({@code q_a + 4096·q_b}, exact because A4 and W4 codes
 * are in [−8, 7], so each product is in [−56, 64]), splitting the two dots apart every 32 inputs; the group sums are the same exact integers, the result the same bits. A8 blocks run one product per
 * lane. One thread, 512 tokens × 1024 rows × 4096, thread CPU time, best of 25 on a loaded 2-core Zen 3: 73 GFLOP/s
 * paired, the F32 GEMM 37 (the unpaired kernel ran at the F32 GEMM's speed).
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
    private static final IntVector X88 = IntVector.broadcast(I, 0x88);
    private static final IntVector C4 = IntVector.broadcast(I, 4);
    private static final FloatVector FM16 = FloatVector.broadcast(F, -16f);
    private static final FloatVector FM8 = FloatVector.broadcast(F, -8f);
    /** Code bytes of one GEMV sub-block (32 elements: 16 low nibbles, 16 high). */
    private static final int SUB_BYTES = 16;
    /** Byte distance from an element's F32 activation code to that of element + 64 (its high-nibble partner). */
    private static final long HIGH = 4L * BLOCK / 2;

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
            GemmBlockScaled.gemm(W4Panels.CODEC, w, x.wide(), 0, x.scales(), 0, BLOCK, fourBit(x), y, yOff,
                    x.tokens(), w.rows(), w.in());
            return;
        }
        // in 4-row groups, so every thread's range runs gemv4 throughout
        WorkerPool.shared().parallelFor((w.rows() + 3) / 4, 64,
                (s, e) -> rows(w, x, y, yOff, 4 * s, Math.min(w.rows(), 4 * e)));
    }

    /**
     * Rows {@code [rowStart, rowEnd)} for all tokens on the calling thread; the GEMV allocates nothing, the GEMM a
     * small descriptor and two copies of the precision map per call (and its thread's packing scratch once).
     */
    public static void matmul(W4Weights w, ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        checkOut(w, x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, w.rows());
        if (x.tokens() > 1 && VECTOR_OK) {
            GemmBlockScaled.outputs(W4Panels.CODEC, w, x.wide(), 0, x.scales(), 0, BLOCK, fourBit(x), y, yOff,
                    x.tokens(), w.rows(), w.in(), rowStart, rowEnd);
            return;
        }
        rows(w, x, y, yOff, rowStart, rowEnd);
    }

    /**
     * The GEMM's pairable blocks: the A4 ones, whose codes (−7..7, or −8..7 from a {@link ChannelBlocks} layout)
     * times W4 codes (−8..7) stay within {@code GemmBlockScaled}'s paired range [−56, 64]. A8 blocks (codes up to
     * 127) run unpaired.
     */
    private static boolean[] fourBit(ActivationQuant x) {
        boolean[] m = x.eightBit();
        for (int b = 0; b < m.length; b++) {
            m[b] = !m[b];
        }
        return m;
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
     * <p>Per code byte the nibbles are made Q4_0's offset nibbles with one XOR: a two's-complement nibble {@code q}
     * XOR 8 is {@code q + 8} in 0..15, so the zero-extended byte {@code u = v ^ 0x88} is {@code (lo + 8) + 16·(hi +
     * 8)}, and {@code u·x_l + (u >>> 4)·(x_h − 16·x_l) = (lo + 8)·x_l + (hi + 8)·x_h}: two conversions and two FMAs
     * per byte and row, no mask; {@code x_h − 16·x_l} is formed once per activation vector for the four rows, and the
     * offset {@code −8·Σ(x_l + x_h)} starts each row's sum.
     *
     * <p><b>Why 32-element sub-blocks</b>: each row's sum restarts every 16 bytes (a sub-block: elements {@code j..j+15}
     * low, {@code j+64..j+79} high) and is scaled into the row's accumulator right away, so a row's dependency chain
     * is 4 FMAs long and the next sub-block's chains can start out of order, as in Q4_0 (whose blocks are 32
     * elements). One 128-element chain per row (16 dependent FMAs per block) measured about 1.4× slower in L1 on Zen 3
     * (8 rows × 4096: 4.5 against 3.2 µs, one thread), while splitting it into 8 accumulators, or summing the
     * sub-blocks exactly before one scale FMA per block, spilled or boxed under C2. The code is written inline with
     * no helper methods: a helper call left out of line by C2's node budget boxes every vector.
     *
     * <p>Exactness: with {@code |x| ≤ 127} each lane's sub-block sum is an integer below {@code 2·15·127 + 8·4·127
     * < 2^13}, so every partial sum is exact; one scale FMA per row and sub-block adds the F32 rounding the dot
     * bound allows.
     */
    private static void gemv4(W4Weights w, ActivationQuant x, int o, MemorySegment y, long yo) {
        MemorySegment q = w.codes();
        MemorySegment ws = w.scales();
        MemorySegment a = x.wide();
        MemorySegment as = x.scales();
        int in = w.in();
        int blocks = in / BLOCK;
        long rb = in / 2;
        long q0 = (long) o * rb;
        long s0 = 4L * o * blocks;
        long sStep = 4L * blocks;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = acc0;
        FloatVector acc2 = acc0;
        FloatVector acc3 = acc0;
        for (int sub = 0; sub < 4 * blocks; sub++) {
            int b = sub >>> 2;
            int jb = SUB_BYTES * (sub & 3);
            long qb = q0 + (long) BLOCK / 2 * b + jb;
            long xb = 4L * (BLOCK * b + jb);
            // The sub-block's 16 low and 16 high activations in vectors of L lanes (two each at 256 bits, one at
            // 512); integer-valued, so the sum is exact in any order.
            FloatVector m8 = FloatVector.zero(F);
            for (int j = 0; j < SUB_BYTES; j += L) {
                m8 = m8.lanewise(VectorOperators.ADD, FloatVector.fromMemorySegment(F, a, xb + 4L * j, LE))
                        .lanewise(VectorOperators.ADD, FloatVector.fromMemorySegment(F, a, xb + HIGH + 4L * j, LE));
            }
            m8 = m8.lanewise(VectorOperators.MUL, FM8);
            FloatVector p0 = m8;
            FloatVector p1 = m8;
            FloatVector p2 = m8;
            FloatVector p3 = m8;
            for (int j = 0; j < SUB_BYTES; j += L) {
                FloatVector xl = FloatVector.fromMemorySegment(F, a, xb + 4L * j, LE);
                FloatVector xd = xl.lanewise(VectorOperators.FMA, FM16,
                        FloatVector.fromMemorySegment(F, a, xb + HIGH + 4L * j, LE));
                IntVector n0 = ((IntVector) ByteVector.fromMemorySegment(B, q, qb + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0)).lanewise(VectorOperators.XOR, X88);
                p0 = ((FloatVector) n0.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p0);
                p0 = ((FloatVector) n0.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p0);
                IntVector n1 = ((IntVector) ByteVector.fromMemorySegment(B, q, qb + rb + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0)).lanewise(VectorOperators.XOR, X88);
                p1 = ((FloatVector) n1.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p1);
                p1 = ((FloatVector) n1.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p1);
                IntVector n2 = ((IntVector) ByteVector.fromMemorySegment(B, q, qb + 2 * rb + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0)).lanewise(VectorOperators.XOR, X88);
                p2 = ((FloatVector) n2.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p2);
                p2 = ((FloatVector) n2.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p2);
                IntVector n3 = ((IntVector) ByteVector.fromMemorySegment(B, q, qb + 3 * rb + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0)).lanewise(VectorOperators.XOR, X88);
                p3 = ((FloatVector) n3.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p3);
                p3 = ((FloatVector) n3.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p3);
            }
            float sx = as.get(F32, 4L * b);
            long sb = s0 + 4L * b;
            acc0 = p0.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, sx * ws.get(F32, sb)), acc0);
            acc1 = p1.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, sx * ws.get(F32, sb + sStep)), acc1);
            acc2 = p2.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, sx * ws.get(F32, sb + 2 * sStep)), acc2);
            acc3 = p3.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, sx * ws.get(F32, sb + 3 * sStep)), acc3);
        }
        y.set(F32, yo, acc0.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 4, acc1.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 8, acc2.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 12, acc3.reduceLanes(VectorOperators.ADD));
    }

    /**
     * One row of {@link #gemv4} (a range's leftover rows), with the same operations in the same order, so a row's
     * bits do not depend on how the rows were split.
     */
    private static float gemv1(W4Weights w, ActivationQuant x, int o) {
        MemorySegment q = w.codes();
        MemorySegment ws = w.scales();
        MemorySegment a = x.wide();
        MemorySegment as = x.scales();
        int in = w.in();
        int blocks = in / BLOCK;
        long q0 = (long) o * (in / 2);
        long s0 = 4L * o * blocks;
        FloatVector acc = FloatVector.zero(F);
        for (int sub = 0; sub < 4 * blocks; sub++) {
            int b = sub >>> 2;
            int jb = SUB_BYTES * (sub & 3);
            long qb = q0 + (long) BLOCK / 2 * b + jb;
            long xb = 4L * (BLOCK * b + jb);
            FloatVector p = FloatVector.zero(F);
            for (int j = 0; j < SUB_BYTES; j += L) {
                p = p.lanewise(VectorOperators.ADD, FloatVector.fromMemorySegment(F, a, xb + 4L * j, LE))
                        .lanewise(VectorOperators.ADD, FloatVector.fromMemorySegment(F, a, xb + HIGH + 4L * j, LE));
            }
            p = p.lanewise(VectorOperators.MUL, FM8);
            for (int j = 0; j < SUB_BYTES; j += L) {
                FloatVector xl = FloatVector.fromMemorySegment(F, a, xb + 4L * j, LE);
                FloatVector xd = xl.lanewise(VectorOperators.FMA, FM16,
                        FloatVector.fromMemorySegment(F, a, xb + HIGH + 4L * j, LE));
                IntVector n = ((IntVector) ByteVector.fromMemorySegment(B, q, qb + j, LE)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0)).lanewise(VectorOperators.XOR, X88);
                p = ((FloatVector) n.convertShape(VectorOperators.I2F, F, 0)).lanewise(VectorOperators.FMA, xl, p);
                p = ((FloatVector) n.lanewise(VectorOperators.LSHR, C4).convertShape(VectorOperators.I2F, F, 0))
                        .lanewise(VectorOperators.FMA, xd, p);
            }
            float sx = as.get(F32, 4L * b);
            acc = p.lanewise(VectorOperators.FMA, FloatVector.broadcast(F, sx * ws.get(F32, s0 + 4L * b)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
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
