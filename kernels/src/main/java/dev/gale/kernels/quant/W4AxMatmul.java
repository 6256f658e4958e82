package dev.gale.kernels.quant;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * W4A4 / W4A8 products (COMET §4.1 tile output): {@code Y[t][o] = Σ_b s_x[t,b] · Σ_{g ⊂ b} s_w[o,g] · Σ_{c ∈ g}
 * q_x[t,c]·q_w[o,c]} for {@link W4Weights} and {@link ActivationQuant}, GEMV ({@code tokens = 1}, decode) and GEMM
 * (prefill). W4A4 and W4A8 are the same kernel: the precision map only changed how the activations were quantized.
 *
 * <p><b>Vector API kernel</b> (256-bit vectors: the layout's 32-byte unit; on narrower hardware the entry points run
 * the reference). Per 128-element block of a row: two 32-byte loads; {@code v << 4} and {@code v & 0xF0} give
 * {@code 16·q} as signed bytes (COMET's conversion, see {@link W4Weights}) for four 32-element pieces; each piece
 * widens once to two int16 vectors, multiplies the pre-widened int16 activation codes (products ≤ 16256 in
 * magnitude, two of them summed stay within int16), widens the sum to int32 lanes, converts it to F32 (exact: below
 * 2^24) and takes <b>one scale FMA per piece</b> with {@code s_w[o,g]·s_x[t,b]/16}. A piece lies in one group for
 * every group size, so the integer part of each piece is exact; pieces of a 64- or 128-group are combined in F32.
 * No VNNI in the Vector API: int8·int8 products cannot accumulate in 8-bit lanes, so they widen to int16 once.
 * GEMM tiles are 4 tokens × 1 row (a piece's weights unpacked once for four tokens), rows in tiles of 64 so the
 * weights stay in L2 across the token quads. Entry points without {@code Parallel} run on the caller and allocate
 * nothing; the {@code Parallel} ones split rows over {@link WorkerPool#shared()}.
 *
 * <p><b>Numerics.</b> The reference sums exact per-group integer dots, scaled in double. The kernels' F32 result is
 * within {@code Numerics.dotBound(Σ_c |s_x q_x · s_w q_w|, in)} of it (the rounding of {@code s_w·s_x}, the piece
 * FMAs and the final lane reduction).
 */
public final class W4AxMatmul {
    static final boolean VECTOR_OK = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 256;
    private static final VectorSpecies<Byte> BS = ByteVector.SPECIES_256;
    private static final VectorSpecies<Short> SS = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_256;
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_256;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = QuantVectors.F32;
    private static final int BLOCK = W4Weights.BLOCK;
    /** Rows per GEMM tile: 64 rows of 4096 columns are 128 KiB of codes, L2-resident across token quads. */
    private static final int ROW_TILE = 64;

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

    /** {@code Y = X·Wᵀ} for all tokens and rows, rows split over the shared worker pool. */
    public static void matmulParallel(W4Weights w, ActivationQuant x, MemorySegment y, long yOff) {
        checkOut(w, x, y, yOff);
        int tiles = (w.rows() + ROW_TILE - 1) / ROW_TILE;
        if (x.tokens() == 1) {
            WorkerPool.shared().parallelFor(w.rows(), 256, (s, e) -> rows(w, x, y, yOff, s, e));
        } else {
            WorkerPool.shared().parallelFor(tiles, 1,
                    (s, e) -> rows(w, x, y, yOff, s * ROW_TILE, Math.min(w.rows(), e * ROW_TILE)));
        }
    }

    /** Rows {@code [rowStart, rowEnd)} for all tokens on the calling thread; allocates nothing. */
    public static void matmul(W4Weights w, ActivationQuant x, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        checkOut(w, x, y, yOff);
        QuantVectors.requireRange(rowStart, rowEnd, w.rows());
        rows(w, x, y, yOff, rowStart, rowEnd);
    }

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
        for (int r0 = rowStart; r0 < rowEnd; r0 += ROW_TILE) {
            int r1 = Math.min(rowEnd, r0 + ROW_TILE);
            int t = 0;
            for (; t + 4 <= tokens; t += 4) {
                for (int o = r0; o < r1; o++) {
                    row4(w, x, t, o, y, yOff + 4L * ((long) t * rows + o), rows);
                }
            }
            for (; t < tokens; t++) {
                for (int o = r0; o < r1; o++) {
                    y.set(F32, yOff + 4L * ((long) t * rows + o), row1(w, x, t, o));
                }
            }
        }
    }

    /**
     * The int32 lanes of one piece's integer dot: {@code w16} holds {@code 16·q_w} of 32 elements, {@code a} their
     * int16 activation codes at byte {@code ao}. Lane sums of four products; the total is {@code 16·Σ q_x·q_w}.
     */
    private static IntVector piece(ShortVector w0, ShortVector w1, MemorySegment a, long ao) {
        ShortVector p = w0.mul(ShortVector.fromMemorySegment(SS, a, ao, LE))
                .add(w1.mul(ShortVector.fromMemorySegment(SS, a, ao + 32, LE)));
        return ((IntVector) p.convertShape(VectorOperators.S2I, IS, 0))
                .add((IntVector) p.convertShape(VectorOperators.S2I, IS, 1));
    }

    private static FloatVector fma(IntVector dot, float scale, FloatVector acc) {
        return ((FloatVector) dot.convertShape(VectorOperators.I2F, FS, 0))
                .lanewise(VectorOperators.FMA, FloatVector.broadcast(FS, scale), acc);
    }

    private static ShortVector half(ByteVector w16, int part) {
        return (ShortVector) w16.convertShape(VectorOperators.B2S, SS, part);
    }

    private static ByteVector lo(ByteVector v) {
        return v.lanewise(VectorOperators.LSHL, 4);
    }

    private static ByteVector hi(ByteVector v) {
        return v.and((byte) 0xF0);
    }

    /** Package-private for the exactness test: {@code 16·Σ q_x·q_w} of piece {@code p} of block {@code b}. */
    static int pieceDot16(W4Weights w, ActivationQuant x, int t, int o, int b, int p) {
        long wb = (long) o * (w.in() / 2) + 64L * b + 32L * (p & 1);
        ByteVector v = ByteVector.fromMemorySegment(BS, w.codes(), wb, LE);
        ByteVector w16 = p < 2 ? lo(v) : hi(v);
        long ao = 2L * ((long) t * w.in() + (long) b * BLOCK + 32L * p);
        return piece(half(w16, 0), half(w16, 1), x.wide(), ao).reduceLanes(VectorOperators.ADD);
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
        long aTok = 2L * t * in;
        long asTok = 4L * t * blocks;
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < blocks; b++) {
            long wb = wRow + 64L * b;
            ByteVector v0 = ByteVector.fromMemorySegment(BS, wc, wb, LE);
            ByteVector v1 = ByteVector.fromMemorySegment(BS, wc, wb + 32, LE);
            float sx = as.get(F32, asTok + 4L * b) * 0x1p-4f;
            long ab = aTok + 256L * b;
            int e = b * BLOCK;
            ByteVector p0 = lo(v0);
            acc = fma(piece(half(p0, 0), half(p0, 1), a, ab), sx * ws.get(F32, sRow + 4L * (e / group)), acc);
            ByteVector p1 = lo(v1);
            acc = fma(piece(half(p1, 0), half(p1, 1), a, ab + 64), sx * ws.get(F32, sRow + 4L * ((e + 32) / group)),
                    acc);
            ByteVector p2 = hi(v0);
            acc = fma(piece(half(p2, 0), half(p2, 1), a, ab + 128),
                    sx * ws.get(F32, sRow + 4L * ((e + 64) / group)), acc);
            ByteVector p3 = hi(v1);
            acc = fma(piece(half(p3, 0), half(p3, 1), a, ab + 192),
                    sx * ws.get(F32, sRow + 4L * ((e + 96) / group)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** Tokens {@code t..t+3} · one row: each piece's weights are unpacked once for the four tokens. */
    private static void row4(W4Weights w, ActivationQuant x, int t, int o, MemorySegment y, long yo, int rows) {
        MemorySegment wc = w.codes();
        MemorySegment ws = w.scales();
        MemorySegment a = x.wide();
        MemorySegment as = x.scales();
        int in = w.in();
        int group = w.group();
        int blocks = in / BLOCK;
        long wRow = (long) o * (in / 2);
        long sRow = 4L * o * (in / group);
        long a0 = 2L * t * in;
        long a1 = a0 + 2L * in;
        long a2 = a1 + 2L * in;
        long a3 = a2 + 2L * in;
        long as0 = 4L * t * blocks;
        long as1 = as0 + 4L * blocks;
        long as2 = as1 + 4L * blocks;
        long as3 = as2 + 4L * blocks;
        FloatVector c0 = FloatVector.zero(FS);
        FloatVector c1 = c0;
        FloatVector c2 = c0;
        FloatVector c3 = c0;
        for (int b = 0; b < blocks; b++) {
            long wb = wRow + 64L * b;
            ByteVector v0 = ByteVector.fromMemorySegment(BS, wc, wb, LE);
            ByteVector v1 = ByteVector.fromMemorySegment(BS, wc, wb + 32, LE);
            float sx0 = as.get(F32, as0 + 4L * b) * 0x1p-4f;
            float sx1 = as.get(F32, as1 + 4L * b) * 0x1p-4f;
            float sx2 = as.get(F32, as2 + 4L * b) * 0x1p-4f;
            float sx3 = as.get(F32, as3 + 4L * b) * 0x1p-4f;
            long ab = 256L * b;
            int e = b * BLOCK;
            ByteVector w0 = lo(v0);
            ShortVector h00 = half(w0, 0);
            ShortVector h01 = half(w0, 1);
            float sw0 = ws.get(F32, sRow + 4L * (e / group));
            c0 = fma(piece(h00, h01, a, a0 + ab), sx0 * sw0, c0);
            c1 = fma(piece(h00, h01, a, a1 + ab), sx1 * sw0, c1);
            c2 = fma(piece(h00, h01, a, a2 + ab), sx2 * sw0, c2);
            c3 = fma(piece(h00, h01, a, a3 + ab), sx3 * sw0, c3);
            ByteVector w1 = lo(v1);
            ShortVector h10 = half(w1, 0);
            ShortVector h11 = half(w1, 1);
            float sw1 = ws.get(F32, sRow + 4L * ((e + 32) / group));
            c0 = fma(piece(h10, h11, a, a0 + ab + 64), sx0 * sw1, c0);
            c1 = fma(piece(h10, h11, a, a1 + ab + 64), sx1 * sw1, c1);
            c2 = fma(piece(h10, h11, a, a2 + ab + 64), sx2 * sw1, c2);
            c3 = fma(piece(h10, h11, a, a3 + ab + 64), sx3 * sw1, c3);
            ByteVector w2 = hi(v0);
            ShortVector h20 = half(w2, 0);
            ShortVector h21 = half(w2, 1);
            float sw2 = ws.get(F32, sRow + 4L * ((e + 64) / group));
            c0 = fma(piece(h20, h21, a, a0 + ab + 128), sx0 * sw2, c0);
            c1 = fma(piece(h20, h21, a, a1 + ab + 128), sx1 * sw2, c1);
            c2 = fma(piece(h20, h21, a, a2 + ab + 128), sx2 * sw2, c2);
            c3 = fma(piece(h20, h21, a, a3 + ab + 128), sx3 * sw2, c3);
            ByteVector w3 = hi(v1);
            ShortVector h30 = half(w3, 0);
            ShortVector h31 = half(w3, 1);
            float sw3 = ws.get(F32, sRow + 4L * ((e + 96) / group));
            c0 = fma(piece(h30, h31, a, a0 + ab + 192), sx0 * sw3, c0);
            c1 = fma(piece(h30, h31, a, a1 + ab + 192), sx1 * sw3, c1);
            c2 = fma(piece(h30, h31, a, a2 + ab + 192), sx2 * sw3, c2);
            c3 = fma(piece(h30, h31, a, a3 + ab + 192), sx3 * sw3, c3);
        }
        long step = 4L * rows;
        y.set(F32, yo, c0.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + step, c1.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 2 * step, c2.reduceLanes(VectorOperators.ADD));
        y.set(F32, yo + 3 * step, c3.reduceLanes(VectorOperators.ADD));
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
