package dev.gale.kernels.gemm;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The paired micro-kernel of {@link GemmBlockScaled}: two integer multiply-adds per F32 lane and FMA (SWAR in the
 * mantissa), for input blocks whose codes are small enough (W4 weights × A4 activations).
 *
 * <p><b>Why.</b> AVX2 has no int8 multiply-add the Vector API reaches ({@code vpmaddubsw}, {@code vpmaddwd}, VNNI),
 * so the block-scaled GEMM ran the F32 GEMM's micro-kernel over integer codes: one product per lane and FMA, the F32
 * GEMM's speed at best. But a W4A4 product is tiny ({@code q_w·q_x} in [−56, 64]) and an F32 lane holds 24 bits of
 * exact integer. So the weight panel holds two output columns per lane, {@code P = q_a + 4096·q_b} (exact), and one
 * FMA {@code T += x·P} adds {@code x·q_a + 4096·x·q_b}: the dot products of two columns travel in one lane.
 *
 * <p><b>The bound.</b> Let every product lie in [{@link #MIN_PRODUCT}, {@link #MAX_PRODUCT}] = [−56, 64] (W4 codes
 * and A4 codes in [−8, 7]: {@code (−8)·(−8) = 64}, {@code (−8)·7 = −56}). Over a span of {@link #SPAN} = 32 inputs
 * each column's dot {@code S} lies in [−1792, 2048]: 3840 values apart, fewer than 4096, but 2048 itself would be a
 * tie for {@code rint(T / 4096)}. So each span's accumulators start at {@link #OFFSET} = −128, the range's centre
 * negated: {@code T = (S_a − 128) + 4096·S_b} with {@code |S_a − 128| ≤ 1920 < 4096/2}, and
 * {@code S_b = rint(T / 4096)}, {@code S_a − 128 = T − 4096·S_b} recover both dots exactly, no tie possible. Every
 * partial {@code T} is an integer of magnitude at most {@code 128 + 2048 + 4096·2048 < 2^24}: all products and sums
 * are exact in F32. A span of 64 (dots 7680 values apart) would need a shift of 8192, and {@code 8192·4096 = 2^25}:
 * it does not fit, hence 32. After each span the tile is split ({@code rint} by the {@code 1.5·2^23} addition, fused
 * with the {@code 1/4096}: three operations per accumulator, two of them FADD-port work on Zen) and the two columns'
 * dots are added into the tile's group sums, the low columns' sums starting at {@code +128} per span to cancel the
 * offset; they stay exact ({@code 128·64 < 2^24}). The result is therefore the same exact group sums as the
 * unpaired kernel, scaled and added into Y by the same operations: bit for bit the unpaired result.
 *
 * <p><b>Layout.</b> A paired panel covers {@link #PR} = 4·L outputs as the 4×2 tile's two vectors: lane {@code l} of
 * the panel (0 ≤ l &lt; 2L) pairs output {@code l} (low part) with output {@code l + 2L} (high part). The split then
 * yields ordinary column vectors (outputs {@code 0..2L} from the low parts, {@code 2L..4L} from the high parts): no
 * lane shuffle. The packed panel is {@code wp[k·2L + l]}, input-major like {@link GemmKernel}'s; tokens are packed
 * by {@link GemmKernel#packX} (MR interleaved). The tile is 4 tokens × 2 vectors, 8 accumulators as in the F32
 * GEMM (AVX2's 16 registers; wider tiles spilled there), now 4 × 4L outputs.
 */
final class PairedTile {
    private static final VectorSpecies<Float> F = GemmKernel.F;
    private static final int L = GemmKernel.L;
    /** Inputs per span between splits (see the class comment for the bound). */
    static final int SPAN = 32;
    /** The least {@code q_w·q_x} a paired input block may hold. */
    static final int MIN_PRODUCT = -56;
    /** The largest {@code q_w·q_x} a paired input block may hold. */
    static final int MAX_PRODUCT = 64;
    /** Each span's start: the centre of its dots' range [32·MIN_PRODUCT, 32·MAX_PRODUCT], negated. */
    static final int OFFSET = -SPAN * (MIN_PRODUCT + MAX_PRODUCT) / 2;
    /** Outputs per paired panel: two vectors of two columns per lane. */
    static final int PR = 4 * L;
    /** Packed floats per input of a paired panel. */
    private static final int PW = 2 * L;
    private static final float SHIFT = 4096f;
    /**
     * Whether the paired kernel runs: its tile is the 4×2 one ({@link GemmKernel#MR} 4, vectors of 256 bits or more)
     * and the packed weight block holds whole paired panels; {@code -Dgale.gemm.paired=false} turns it off (the
     * unpaired kernel, for comparison).
     */
    static final boolean ENABLED = GemmKernel.MR == 4 && GemmKernel.NC % PR == 0 && L >= 8
            && Boolean.parseBoolean(System.getProperty("gale.gemm.paired", "true"));
    /** {@code 1.5·2^23}: added to a float below {@code 2^22} in magnitude, rounds it to an integer. */
    private static final FloatVector MAGIC = FloatVector.broadcast(F, 0x1.8p23f);
    private static final FloatVector INV = FloatVector.broadcast(F, 1f / SHIFT);
    private static final FloatVector NEG = FloatVector.broadcast(F, -SHIFT);

    private PairedTile() {
    }

    /** Whether inputs blocks of a weight group of {@code group} inputs can be paired: whole spans. */
    static boolean fits(int group) {
        return ENABLED && group % SPAN == 0;
    }

    /**
     * Decodes rows {@code [p0, p0 + nr)} × inputs {@code [k0, k0 + kc)} (one group) into the paired panel at
     * {@code wo} and their group scales into {@code sp[so + j]} ({@code j < PR}, outputs in order; zeros past
     * {@code nr}). {@code row} is scratch of at least {@code kc} floats.
     */
    static <W> void pack(GemmKernel.Scaling<W> sc, int p0, int nr, int k0, int kc, float[] wp, int wo, float[] sp,
            int so, float[] row) {
        int g = k0 / sc.group();
        for (int l = 0; l < PW; l++) {
            int at = wo + l;
            if (l < nr) {
                sc.codec().decode(sc.w(), p0 + l, k0, kc, wp, at, PW);
                sp[so + l] = sc.codec().scale(sc.w(), p0 + l, g);
            } else {
                for (int k = 0; k < kc; k++) {
                    wp[at + k * PW] = 0f;
                }
                sp[so + l] = 0f;
            }
            if (l + PW < nr) {
                sc.codec().decode(sc.w(), p0 + l + PW, k0, kc, row, 0, 1);
                for (int k = 0; k < kc; k++) {
                    wp[at + k * PW] += SHIFT * row[k]; // exact: |q_a + 4096·q_b| < 2^16
                }
                sp[so + l + PW] = sc.codec().scale(sc.w(), p0 + l + PW, g);
            } else {
                sp[so + l + PW] = 0f;
            }
        }
    }

    /**
     * MR = 4 tokens × PR outputs over {@code kc} inputs (whole spans) into {@code acc[4][PR]}: the exact group sums of
     * the block. {@code xp[xi + k·4 + i]} is token i's input k, {@code wp[wo + k·2L + l]} the paired panel.
     */
    static void tile(float[] xp, int xi, float[] wp, int wo, int kc, float[] acc) {
        clear(acc, 4, kc);
        for (int s = 0, wi = wo; s < kc; s += SPAN) {
            // broadcast here: a static final vector as the accumulators' start made C2 box them (20x slower)
            FloatVector c00 = FloatVector.broadcast(F, (float) OFFSET);
            FloatVector c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            for (int k = 0; k < SPAN; k++, wi += PW, xi += 4) {
                FloatVector w0 = FloatVector.fromArray(F, wp, wi);
                FloatVector w1 = FloatVector.fromArray(F, wp, wi + L);
                FloatVector b0 = FloatVector.broadcast(F, xp[xi]);
                FloatVector b1 = FloatVector.broadcast(F, xp[xi + 1]);
                FloatVector b2 = FloatVector.broadcast(F, xp[xi + 2]);
                FloatVector b3 = FloatVector.broadcast(F, xp[xi + 3]);
                c00 = w0.fma(b0, c00);
                c01 = w1.fma(b0, c01);
                c10 = w0.fma(b1, c10);
                c11 = w1.fma(b1, c11);
                c20 = w0.fma(b2, c20);
                c21 = w1.fma(b2, c21);
                c30 = w0.fma(b3, c30);
                c31 = w1.fma(b3, c31);
            }
            // The split (S_b = rint(T/4096) by the 1.5·2^23 addition fused with the exact 1/4096, S_a = T − 4096·S_b)
            // added into the group sums, written out per accumulator: helpers that take vectors boxed them under C2
            // (0.1x), one helper looping over the 8 spilled to an array measured 1.13x the unpaired tile, this 1.49x.
            FloatVector h00 = c00.fma(INV, MAGIC).sub(MAGIC);
            h00.fma(NEG, c00).add(FloatVector.fromArray(F, acc, 0)).intoArray(acc, 0);
            h00.add(FloatVector.fromArray(F, acc, PW)).intoArray(acc, PW);
            FloatVector h01 = c01.fma(INV, MAGIC).sub(MAGIC);
            h01.fma(NEG, c01).add(FloatVector.fromArray(F, acc, L)).intoArray(acc, L);
            h01.add(FloatVector.fromArray(F, acc, L + PW)).intoArray(acc, L + PW);
            FloatVector h10 = c10.fma(INV, MAGIC).sub(MAGIC);
            h10.fma(NEG, c10).add(FloatVector.fromArray(F, acc, PR)).intoArray(acc, PR);
            h10.add(FloatVector.fromArray(F, acc, PR + PW)).intoArray(acc, PR + PW);
            FloatVector h11 = c11.fma(INV, MAGIC).sub(MAGIC);
            h11.fma(NEG, c11).add(FloatVector.fromArray(F, acc, PR + L)).intoArray(acc, PR + L);
            h11.add(FloatVector.fromArray(F, acc, PR + L + PW)).intoArray(acc, PR + L + PW);
            FloatVector h20 = c20.fma(INV, MAGIC).sub(MAGIC);
            h20.fma(NEG, c20).add(FloatVector.fromArray(F, acc, 2 * PR)).intoArray(acc, 2 * PR);
            h20.add(FloatVector.fromArray(F, acc, 2 * PR + PW)).intoArray(acc, 2 * PR + PW);
            FloatVector h21 = c21.fma(INV, MAGIC).sub(MAGIC);
            h21.fma(NEG, c21).add(FloatVector.fromArray(F, acc, 2 * PR + L)).intoArray(acc, 2 * PR + L);
            h21.add(FloatVector.fromArray(F, acc, 2 * PR + L + PW)).intoArray(acc, 2 * PR + L + PW);
            FloatVector h30 = c30.fma(INV, MAGIC).sub(MAGIC);
            h30.fma(NEG, c30).add(FloatVector.fromArray(F, acc, 3 * PR)).intoArray(acc, 3 * PR);
            h30.add(FloatVector.fromArray(F, acc, 3 * PR + PW)).intoArray(acc, 3 * PR + PW);
            FloatVector h31 = c31.fma(INV, MAGIC).sub(MAGIC);
            h31.fma(NEG, c31).add(FloatVector.fromArray(F, acc, 3 * PR + L)).intoArray(acc, 3 * PR + L);
            h31.add(FloatVector.fromArray(F, acc, 3 * PR + L + PW)).intoArray(acc, 3 * PR + L + PW);
        }
    }

    /** One token × PR outputs over {@code kc} inputs (leftover tokens, {@code xp[xi + k]}) into {@code acc[0][PR]}. */
    static void tile1(float[] xp, int xi, float[] wp, int wo, int kc, float[] acc) {
        clear(acc, 1, kc);
        for (int s = 0, wi = wo; s < kc; s += SPAN) {
            FloatVector c0 = FloatVector.broadcast(F, (float) OFFSET);
            FloatVector c1 = c0;
            for (int k = 0; k < SPAN; k++, wi += PW, xi++) {
                FloatVector b = FloatVector.broadcast(F, xp[xi]);
                c0 = FloatVector.fromArray(F, wp, wi).fma(b, c0);
                c1 = FloatVector.fromArray(F, wp, wi + L).fma(b, c1);
            }
            FloatVector h0 = c0.fma(INV, MAGIC).sub(MAGIC);
            h0.fma(NEG, c0).add(FloatVector.fromArray(F, acc, 0)).intoArray(acc, 0);
            h0.add(FloatVector.fromArray(F, acc, PW)).intoArray(acc, PW);
            FloatVector h1 = c1.fma(INV, MAGIC).sub(MAGIC);
            h1.fma(NEG, c1).add(FloatVector.fromArray(F, acc, L)).intoArray(acc, L);
            h1.add(FloatVector.fromArray(F, acc, L + PW)).intoArray(acc, L + PW);
        }
    }

    /**
     * Starts the group sums of {@code rows} tokens: the low columns at {@code −OFFSET} per span of {@code kc} inputs
     * (cancelling each span's start), the high columns at 0 (so the tile loop only adds: a store-or-add choice there
     * made C2 box the vectors).
     */
    private static void clear(float[] acc, int rows, int kc) {
        float low = (float) -OFFSET * (kc / SPAN);
        for (int i = 0; i < rows; i++) {
            java.util.Arrays.fill(acc, i * PR, i * PR + PW, low);
            java.util.Arrays.fill(acc, i * PR + PW, (i + 1) * PR, 0f);
        }
    }
}
