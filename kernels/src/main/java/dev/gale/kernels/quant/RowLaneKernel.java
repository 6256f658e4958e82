package dev.gale.kernels.quant;

import static dev.gale.kernels.quant.QuantVectors.F;
import static dev.gale.kernels.quant.QuantVectors.I;
import static dev.gale.kernels.quant.QuantVectors.L;
import static dev.gale.kernels.quant.QuantVectors.LE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The row-lane layout and its one-token GEMV kernels: {@link #group4} over 4-bit weights, shared by
 * {@link Q4_0Lanes} (blocks of 32, 16 chunks) and {@link W4Packed} (blocks of 128, 64 chunks), and {@link #group4Bytes}
 * over Q8_0's signed bytes ({@link Q8_0Lanes}, 32 chunks). All lay a group of {@link #R} rows out as group-blocks of
 * R F32 scales followed by {@code chunks} chunks of R bytes, chunk j holding byte j of every row's block; for 4 bits
 * element j in the low nibble and element j + chunks in the high one, unsigned (the zero point 8 is taken out through
 * the activations' {@code zeros}).
 *
 * <p>Four groups run side by side so their weights arrive as four memory streams: one stream per thread read at
 * about half the read probe's speed (2026-11-28). Per stream, one 16-bit accumulator takes both nibbles' products
 * over a span of chunks, then widens to two 32-bit halves: 8 chunks where the codes reach ±127 (at most
 * 2·8·15·127 = 30480), a whole block where {@code wholeBlocks} says the block's codes keep its sum within 16 bits
 * ({@code 15·Σ|x_q| ≤ 32767}: W4A4's A4 blocks always, most Q8 blocks of real activations). Each block sum is exact;
 * it gets the zero point in integers, converts once, and the rows' F32 sums take {@code fma(sum, s_w·s_x, acc)}, so
 * every caller's scalar path gives the same bits.
 *
 * <p>The nibbles are not masked apart: the zero-extended byte {@code u = lo + 16·hi} times {@code x_l} plus
 * {@code hi·(x_h − 16·x_l)} is {@code lo·x_l + hi·x_h}. Its terms reach ±32385 and the running sum may wrap, but
 * 16-bit multiplies and adds are exact modulo 2¹⁶, so a span whose true sum is within 16 bits (the bounds above) ends
 * exact. That drops one of seven vector operations per 64 weights, the rest being a widening, a shift, two multiplies
 * and two adds; the multiplies and the shift share one port at 512 bits.
 *
 * <p>Written inline with no vector-valued helpers (a helper C2 leaves out of line boxes every vector). An earlier
 * form kept separate low and high sums, eight loop-carried vectors; it boxed in one test JVM in five
 * ({@code QuantAllocationTest}).
 */
final class RowLaneKernel {
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, F.vectorShape());
    /** Half the vector width in bytes: one chunk, widened to {@link #S}. */
    private static final VectorSpecies<Byte> BH = QuantVectors.VECTOR_OK
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 2)) : ByteVector.SPECIES_64;
    /** Rows per group: the 16-bit lanes of a vector, or 16 where the vector kernel does not run. */
    static final int R = QuantVectors.VECTOR_OK ? S.length() : 16;
    /** Bytes of a group-block's scales, where its codes start. */
    static final int QOFF = 4 * R;
    /** Chunks one accumulator takes where codes reach ±127. */
    private static final int SPAN = 8;
    /** Groups {@link #group4} reads side by side; a pool chunk should hold at least this many. */
    static final int STREAMS = 4;

    private RowLaneKernel() {
    }

    /** One row's block for {@link #pack}: its chunk bytes (unsigned nibbles) into {@code dst}; returns its scale. */
    @FunctionalInterface
    interface BlockSource {
        float read(int row, int block, byte[] dst);
    }

    /** Bytes of one group-block of {@code chunks} chunks. */
    static long groupBlockBytes(int chunks) {
        return QOFF + (long) chunks * R;
    }

    /** Offset of row {@code r}'s block {@code b} scale, {@code nb} blocks per row, group-blocks {@code gb} bytes. */
    static long scaleAt(int r, int b, int nb, long gb) {
        return ((long) (r / R) * nb + b) * gb + 4L * (r % R);
    }

    /** Offset of byte {@code j} of row {@code r}'s block {@code b}. */
    static long byteAt(int r, int b, int j, int nb, long gb) {
        return ((long) (r / R) * nb + b) * gb + QOFF + (long) j * R + r % R;
    }

    /**
     * {@code rows} rows of {@code nb} blocks from {@code src} in the row-lane layout, in a segment from
     * {@code allocator}; rows past the last pad the last group with scale 0 and bytes {@code pad} (exactly zero:
     * nibbles 8, or a signed 0).
     */
    static MemorySegment pack(int rows, int nb, int chunks, byte pad, BlockSource src, SegmentAllocator allocator) {
        long gb = groupBlockBytes(chunks);
        int groups = (rows + R - 1) / R;
        MemorySegment p = allocator.allocate(groups * nb * gb, 64);
        // A group-block is transposed in a heap array and copied in one bulk copy, not by chunks·R checked writes.
        byte[] blk = new byte[chunks * R];
        byte[] piece = new byte[chunks];
        MemorySegment heap = MemorySegment.ofArray(blk);
        for (int g = 0; g < groups; g++) {
            for (int b = 0; b < nb; b++) {
                long at = ((long) g * nb + b) * gb;
                for (int r = 0; r < R; r++) {
                    int row = g * R + r;
                    float scale = 0f;
                    if (row < rows) {
                        scale = src.read(row, b, piece);
                    } else {
                        java.util.Arrays.fill(piece, pad);
                    }
                    p.set(QuantVectors.F32, at + 4L * r, scale);
                    for (int j = 0; j < chunks; j++) {
                        blk[j * R + r] = piece[j];
                    }
                }
                MemorySegment.copy(heap, 0, p, at + QOFF, blk.length);
            }
        }
        return p;
    }

    /**
     * Four groups at byte offsets {@code oa} .. {@code od} of {@code w} (group-blocks {@code gb} bytes apart,
     * {@code nb} of them) · one token ({@code codes[c0 …]}, one short per element; per block {@code scales[s0 …]}
     * s_x and {@code zeros[s0 …]} −8·Σq_x); writes each group's R outputs at {@code ya} .. {@code yd} of {@code y}.
     * {@code wholeBlocks[s0 …]} (null: none) marks the blocks whose codes bound a block's sum within 16 bits
     * ({@code 15·Σ|x_q| ≤ 32767}), so one accumulator takes the whole block.
     */
    static void group4(MemorySegment w, long oa, long ob, long oc, long od, int nb, int chunks, long gb,
            short[] codes, int c0, float[] scales, int[] zeros, int s0, boolean[] wholeBlocks, MemorySegment y,
            long ya, long yb, long yc, long yd) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0, b0 = a0, b1 = a0, cc0 = a0, c1 = a0, d0 = a0, d1 = a0;
        for (int b = 0; b < nb; b++, oa += gb, ob += gb, oc += gb, od += gb) {
            int span = wholeBlocks != null && wholeBlocks[s0 + b] ? chunks : SPAN;
            int e = c0 + 2 * chunks * b;
            IntVector z = IntVector.broadcast(I, zeros[s0 + b]);
            IntVector sa0 = z, sa1 = z, sb0 = z, sb1 = z, sc0 = z, sc1 = z, sd0 = z, sd1 = z;
            for (int j0 = 0; j0 < chunks; j0 += span) {
                ShortVector pa = ShortVector.zero(S);
                ShortVector pb = pa, pc = pa, pd = pa;
                for (int j = j0; j < j0 + span; j++) {
                    long q = QOFF + (long) j * R;
                    ShortVector va = (ShortVector) ByteVector.fromMemorySegment(BH, w, oa + q, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector vb = (ShortVector) ByteVector.fromMemorySegment(BH, w, ob + q, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector vc = (ShortVector) ByteVector.fromMemorySegment(BH, w, oc + q, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector vd = (ShortVector) ByteVector.fromMemorySegment(BH, w, od + q, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    // The whole byte times x_l is lo·x_l + 16·hi·x_l; the high nibble's factor takes the 16·x_l
                    // back out, so no mask is needed (16-bit wrap-around is exact: see the class comment).
                    short xl = codes[e + j];
                    short xh = (short) (codes[e + j + chunks] - 16 * xl);
                    pa = va.mul(xl).add(pa);
                    pa = va.lanewise(VectorOperators.LSHR, 4).mul(xh).add(pa);
                    pb = vb.mul(xl).add(pb);
                    pb = vb.lanewise(VectorOperators.LSHR, 4).mul(xh).add(pb);
                    pc = vc.mul(xl).add(pc);
                    pc = vc.lanewise(VectorOperators.LSHR, 4).mul(xh).add(pc);
                    pd = vd.mul(xl).add(pd);
                    pd = vd.lanewise(VectorOperators.LSHR, 4).mul(xh).add(pd);
                }
                sa0 = sa0.add((IntVector) pa.convertShape(VectorOperators.S2I, I, 0));
                sa1 = sa1.add((IntVector) pa.convertShape(VectorOperators.S2I, I, 1));
                sb0 = sb0.add((IntVector) pb.convertShape(VectorOperators.S2I, I, 0));
                sb1 = sb1.add((IntVector) pb.convertShape(VectorOperators.S2I, I, 1));
                sc0 = sc0.add((IntVector) pc.convertShape(VectorOperators.S2I, I, 0));
                sc1 = sc1.add((IntVector) pc.convertShape(VectorOperators.S2I, I, 1));
                sd0 = sd0.add((IntVector) pd.convertShape(VectorOperators.S2I, I, 0));
                sd1 = sd1.add((IntVector) pd.convertShape(VectorOperators.S2I, I, 1));
            }
            float sx = scales[s0 + b];
            a0 = ((FloatVector) sa0.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w, oa, LE)
                    .mul(sx), a0);
            a1 = ((FloatVector) sa1.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w,
                    oa + 4L * L, LE).mul(sx), a1);
            b0 = ((FloatVector) sb0.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w, ob, LE)
                    .mul(sx), b0);
            b1 = ((FloatVector) sb1.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w,
                    ob + 4L * L, LE).mul(sx), b1);
            cc0 = ((FloatVector) sc0.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w, oc, LE)
                    .mul(sx), cc0);
            c1 = ((FloatVector) sc1.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w,
                    oc + 4L * L, LE).mul(sx), c1);
            d0 = ((FloatVector) sd0.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w, od, LE)
                    .mul(sx), d0);
            d1 = ((FloatVector) sd1.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w,
                    od + 4L * L, LE).mul(sx), d1);
        }
        a0.intoMemorySegment(y, ya, LE);
        a1.intoMemorySegment(y, ya + 4L * L, LE);
        b0.intoMemorySegment(y, yb, LE);
        b1.intoMemorySegment(y, yb + 4L * L, LE);
        cc0.intoMemorySegment(y, yc, LE);
        c1.intoMemorySegment(y, yc + 4L * L, LE);
        d0.intoMemorySegment(y, yd, LE);
        d1.intoMemorySegment(y, yd + 4L * L, LE);
    }

    /**
     * Four groups of signed 8-bit weights (one element per chunk, {@code QK} chunks per block) at byte offsets
     * {@code oa} .. {@code od} · one token's codes from {@code codes[c0 …]} and block scales from
     * {@code scales[s0 …]}; writes each group's R outputs at {@code ya} .. {@code yd}. Two products of codes within
     * ±127 reach 2·127·127 = 32258, so a 16-bit accumulator takes a pair of chunks and widens.
     */
    static void group4Bytes(MemorySegment w, long oa, long ob, long oc, long od, int nb, long gb, short[] codes,
            int c0, float[] scales, int s0, MemorySegment y, long ya, long yb, long yc, long yd) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0, b0 = a0, b1 = a0, cc0 = a0, c1 = a0, d0 = a0, d1 = a0;
        for (int b = 0; b < nb; b++, oa += gb, ob += gb, oc += gb, od += gb) {
            int e = c0 + QuantVectors.QK * b;
            IntVector sa0 = IntVector.zero(I);
            IntVector sa1 = sa0, sb0 = sa0, sb1 = sa0, sc0 = sa0, sc1 = sa0, sd0 = sa0, sd1 = sa0;
            for (int j = 0; j < QuantVectors.QK; j += 2) {
                long q = QOFF + (long) j * R;
                short x0 = codes[e + j];
                short x1 = codes[e + j + 1];
                ShortVector pa = ((ShortVector) ByteVector.fromMemorySegment(BH, w, oa + q, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(x0);
                pa = ((ShortVector) ByteVector.fromMemorySegment(BH, w, oa + q + R, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(x1).add(pa);
                ShortVector pb = ((ShortVector) ByteVector.fromMemorySegment(BH, w, ob + q, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(x0);
                pb = ((ShortVector) ByteVector.fromMemorySegment(BH, w, ob + q + R, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(x1).add(pb);
                ShortVector pc = ((ShortVector) ByteVector.fromMemorySegment(BH, w, oc + q, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(x0);
                pc = ((ShortVector) ByteVector.fromMemorySegment(BH, w, oc + q + R, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(x1).add(pc);
                ShortVector pd = ((ShortVector) ByteVector.fromMemorySegment(BH, w, od + q, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(x0);
                pd = ((ShortVector) ByteVector.fromMemorySegment(BH, w, od + q + R, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(x1).add(pd);
                sa0 = sa0.add((IntVector) pa.convertShape(VectorOperators.S2I, I, 0));
                sa1 = sa1.add((IntVector) pa.convertShape(VectorOperators.S2I, I, 1));
                sb0 = sb0.add((IntVector) pb.convertShape(VectorOperators.S2I, I, 0));
                sb1 = sb1.add((IntVector) pb.convertShape(VectorOperators.S2I, I, 1));
                sc0 = sc0.add((IntVector) pc.convertShape(VectorOperators.S2I, I, 0));
                sc1 = sc1.add((IntVector) pc.convertShape(VectorOperators.S2I, I, 1));
                sd0 = sd0.add((IntVector) pd.convertShape(VectorOperators.S2I, I, 0));
                sd1 = sd1.add((IntVector) pd.convertShape(VectorOperators.S2I, I, 1));
            }
            float sx = scales[s0 + b];
            a0 = ((FloatVector) sa0.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w, oa, LE)
                    .mul(sx), a0);
            a1 = ((FloatVector) sa1.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w,
                    oa + 4L * L, LE).mul(sx), a1);
            b0 = ((FloatVector) sb0.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w, ob, LE)
                    .mul(sx), b0);
            b1 = ((FloatVector) sb1.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w,
                    ob + 4L * L, LE).mul(sx), b1);
            cc0 = ((FloatVector) sc0.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w, oc, LE)
                    .mul(sx), cc0);
            c1 = ((FloatVector) sc1.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w,
                    oc + 4L * L, LE).mul(sx), c1);
            d0 = ((FloatVector) sd0.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w, od, LE)
                    .mul(sx), d0);
            d1 = ((FloatVector) sd1.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromMemorySegment(F, w,
                    od + 4L * L, LE).mul(sx), d1);
        }
        a0.intoMemorySegment(y, ya, LE);
        a1.intoMemorySegment(y, ya + 4L * L, LE);
        b0.intoMemorySegment(y, yb, LE);
        b1.intoMemorySegment(y, yb + 4L * L, LE);
        cc0.intoMemorySegment(y, yc, LE);
        c1.intoMemorySegment(y, yc + 4L * L, LE);
        d0.intoMemorySegment(y, yd, LE);
        d1.intoMemorySegment(y, yd + 4L * L, LE);
    }
}
