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
 * <p><b>Layout.</b> A paired panel covers {@link #PR} = 2·NV·L outputs as the tile's NV vectors
 * ({@link GemmKernel#NV}: 2 on AVX2, 3 with AVX-512): lane {@code l} of the panel (0 ≤ l &lt; PW = NV·L) pairs
 * output {@code l} (low part) with output {@code l + PW} (high part). The split then yields ordinary column vectors
 * (outputs {@code 0..PW} from the low parts, {@code PW..2·PW} from the high parts): no lane shuffle. The packed panel
 * is {@code wp[k·PW + l]}, input-major like {@link GemmKernel}'s; tokens are packed by {@link GemmKernel#packX} (MR
 * interleaved). The tile is the F32 GEMM's, MR tokens × NV vectors (4×2 = 8 accumulators on AVX2's 16 registers,
 * 6×3 = 18 of AVX-512's 32), now MR × 2·NV·L outputs.
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
    /** Tokens per tile: {@link GemmKernel#MR}, so the activations are packed once for either kernel. */
    private static final int MR = GemmKernel.MR;
    /** Whether tile rows 4 and 5 are live (MR 6). */
    private static final boolean M6 = MR == 6;
    /** Whether the tile's third vector is live ({@link GemmKernel#NV} 3). */
    private static final boolean V3 = GemmKernel.NV == 3;
    /** Packed floats per input of a paired panel: the tile's NV vectors. */
    private static final int PW = GemmKernel.NR;
    /** Outputs per paired panel: NV vectors of two columns per lane, twice the F32 panel. */
    static final int PR = 2 * PW;
    private static final float SHIFT = 4096f;
    /**
     * Whether the paired kernel runs: vectors of 256 bits or more, and the packed weight block holds whole paired
     * panels ({@link GemmKernel#NC} a multiple of PR); {@code -Dgale.gemm.paired=false} turns it off (the
     * unpaired kernel, for comparison).
     */
    static final boolean ENABLED = GemmKernel.NC % PR == 0 && L >= 8
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
     * {@code nr}). Each pair of rows is decoded contiguously into {@code row} (scratch of at least {@code 2·kc}
     * floats: the codec's vector path), then combined {@code q_a + 4096·q_b} and stored down the panel's column.
     * One thread, 512×1024×4096 W4A4: the strided scalar decode had been about a sixth of the GEMM's time. A scatter
     * store for the column (AVX-512) measured the same as these scalar stores (W4A4 ÷ F32 1.57–1.66× against
     * 1.51–1.66×, four alternating pairs at 512×2048×4096), so it was dropped.
     */
    static <W> void pack(GemmKernel.Scaling<W> sc, int p0, int nr, int k0, int kc, float[] wp, int wo, float[] sp,
            int so, float[] row) {
        int g = k0 / sc.group();
        for (int l = 0; l < PW; l++) {
            if (l < nr) {
                sc.codec().decode(sc.w(), p0 + l, k0, kc, row, 0, 1);
                sp[so + l] = sc.codec().scale(sc.w(), p0 + l, g);
            } else {
                java.util.Arrays.fill(row, 0, kc, 0f);
                sp[so + l] = 0f;
            }
            if (l + PW < nr) {
                sc.codec().decode(sc.w(), p0 + l + PW, k0, kc, row, kc, 1);
                sp[so + l + PW] = sc.codec().scale(sc.w(), p0 + l + PW, g);
            } else {
                java.util.Arrays.fill(row, kc, 2 * kc, 0f);
                sp[so + l + PW] = 0f;
            }
            int at = wo + l;
            for (int k = 0; k < kc; k++) {
                wp[at + k * PW] = row[k] + SHIFT * row[kc + k]; // exact: |q_a + 4096·q_b| < 2^16
            }
        }
    }

    /**
     * MR tokens × PR outputs over {@code kc} inputs (whole spans) into {@code acc[MR][PR]}: the exact group sums of
     * the block. {@code xp[xi + k·MR + i]} is token i's input k, {@code wp[wo + k·PW + l]} the paired panel. The
     * tile is {@link GemmKernel}'s (MR × NV accumulators), rows 4-5 and the third vector live only where M6 and V3
     * say so (constants: C2 folds the rest away).
     */
    static void tile(float[] xp, int xi, float[] wp, int wo, int kc, float[] acc) {
        clear(acc, MR, kc);
        for (int s = 0, wi = wo; s < kc; s += SPAN) {
            // broadcast here: a static final vector as the accumulators' start made C2 box them (20x slower)
            FloatVector c00 = FloatVector.broadcast(F, (float) OFFSET);
            FloatVector c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00, c22 = c00;
            FloatVector c30 = c00, c31 = c00, c32 = c00, c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00;
            FloatVector c52 = c00;
            for (int k = 0; k < SPAN; k++, wi += PW, xi += MR) {
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
                if (M6) {
                    FloatVector b4 = FloatVector.broadcast(F, xp[xi + 4]);
                    FloatVector b5 = FloatVector.broadcast(F, xp[xi + 5]);
                    c40 = w0.fma(b4, c40);
                    c41 = w1.fma(b4, c41);
                    c50 = w0.fma(b5, c50);
                    c51 = w1.fma(b5, c51);
                    if (V3) {
                        FloatVector w2 = FloatVector.fromArray(F, wp, wi + 2 * L);
                        c42 = w2.fma(b4, c42);
                        c52 = w2.fma(b5, c52);
                    }
                }
                if (V3) {
                    FloatVector w2 = FloatVector.fromArray(F, wp, wi + 2 * L);
                    c02 = w2.fma(b0, c02);
                    c12 = w2.fma(b1, c12);
                    c22 = w2.fma(b2, c22);
                    c32 = w2.fma(b3, c32);
                }
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
            if (V3) {
                FloatVector h02 = c02.fma(INV, MAGIC).sub(MAGIC);
                h02.fma(NEG, c02).add(FloatVector.fromArray(F, acc, 2 * L)).intoArray(acc, 2 * L);
                h02.add(FloatVector.fromArray(F, acc, 2 * L + PW)).intoArray(acc, 2 * L + PW);
                FloatVector h12 = c12.fma(INV, MAGIC).sub(MAGIC);
                h12.fma(NEG, c12).add(FloatVector.fromArray(F, acc, PR + 2 * L)).intoArray(acc, PR + 2 * L);
                h12.add(FloatVector.fromArray(F, acc, PR + 2 * L + PW)).intoArray(acc, PR + 2 * L + PW);
                FloatVector h22 = c22.fma(INV, MAGIC).sub(MAGIC);
                h22.fma(NEG, c22).add(FloatVector.fromArray(F, acc, 2 * PR + 2 * L)).intoArray(acc, 2 * PR + 2 * L);
                h22.add(FloatVector.fromArray(F, acc, 2 * PR + 2 * L + PW)).intoArray(acc, 2 * PR + 2 * L + PW);
                FloatVector h32 = c32.fma(INV, MAGIC).sub(MAGIC);
                h32.fma(NEG, c32).add(FloatVector.fromArray(F, acc, 3 * PR + 2 * L)).intoArray(acc, 3 * PR + 2 * L);
                h32.add(FloatVector.fromArray(F, acc, 3 * PR + 2 * L + PW)).intoArray(acc, 3 * PR + 2 * L + PW);
            }
            if (M6) {
                FloatVector h40 = c40.fma(INV, MAGIC).sub(MAGIC);
                h40.fma(NEG, c40).add(FloatVector.fromArray(F, acc, 4 * PR)).intoArray(acc, 4 * PR);
                h40.add(FloatVector.fromArray(F, acc, 4 * PR + PW)).intoArray(acc, 4 * PR + PW);
                FloatVector h41 = c41.fma(INV, MAGIC).sub(MAGIC);
                h41.fma(NEG, c41).add(FloatVector.fromArray(F, acc, 4 * PR + L)).intoArray(acc, 4 * PR + L);
                h41.add(FloatVector.fromArray(F, acc, 4 * PR + L + PW)).intoArray(acc, 4 * PR + L + PW);
                FloatVector h50 = c50.fma(INV, MAGIC).sub(MAGIC);
                h50.fma(NEG, c50).add(FloatVector.fromArray(F, acc, 5 * PR)).intoArray(acc, 5 * PR);
                h50.add(FloatVector.fromArray(F, acc, 5 * PR + PW)).intoArray(acc, 5 * PR + PW);
                FloatVector h51 = c51.fma(INV, MAGIC).sub(MAGIC);
                h51.fma(NEG, c51).add(FloatVector.fromArray(F, acc, 5 * PR + L)).intoArray(acc, 5 * PR + L);
                h51.add(FloatVector.fromArray(F, acc, 5 * PR + L + PW)).intoArray(acc, 5 * PR + L + PW);
                if (V3) {
                    FloatVector h42 = c42.fma(INV, MAGIC).sub(MAGIC);
                    h42.fma(NEG, c42).add(FloatVector.fromArray(F, acc, 4 * PR + 2 * L)).intoArray(acc, 4 * PR + 2 * L);
                    h42.add(FloatVector.fromArray(F, acc, 4 * PR + 2 * L + PW)).intoArray(acc, 4 * PR + 2 * L + PW);
                    FloatVector h52 = c52.fma(INV, MAGIC).sub(MAGIC);
                    h52.fma(NEG, c52).add(FloatVector.fromArray(F, acc, 5 * PR + 2 * L)).intoArray(acc, 5 * PR + 2 * L);
                    h52.add(FloatVector.fromArray(F, acc, 5 * PR + 2 * L + PW)).intoArray(acc, 5 * PR + 2 * L + PW);
                }
            }
        }
    }

    /** One token × PR outputs over {@code kc} inputs (leftover tokens, {@code xp[xi + k]}) into {@code acc[0][PR]}. */
    static void tile1(float[] xp, int xi, float[] wp, int wo, int kc, float[] acc) {
        clear(acc, 1, kc);
        for (int s = 0, wi = wo; s < kc; s += SPAN) {
            FloatVector c0 = FloatVector.broadcast(F, (float) OFFSET);
            FloatVector c1 = c0, c2 = c0;
            for (int k = 0; k < SPAN; k++, wi += PW, xi++) {
                FloatVector b = FloatVector.broadcast(F, xp[xi]);
                c0 = FloatVector.fromArray(F, wp, wi).fma(b, c0);
                c1 = FloatVector.fromArray(F, wp, wi + L).fma(b, c1);
                if (V3) {
                    c2 = FloatVector.fromArray(F, wp, wi + 2 * L).fma(b, c2);
                }
            }
            FloatVector h0 = c0.fma(INV, MAGIC).sub(MAGIC);
            h0.fma(NEG, c0).add(FloatVector.fromArray(F, acc, 0)).intoArray(acc, 0);
            h0.add(FloatVector.fromArray(F, acc, PW)).intoArray(acc, PW);
            FloatVector h1 = c1.fma(INV, MAGIC).sub(MAGIC);
            h1.fma(NEG, c1).add(FloatVector.fromArray(F, acc, L)).intoArray(acc, L);
            h1.add(FloatVector.fromArray(F, acc, L + PW)).intoArray(acc, L + PW);
            if (V3) {
                FloatVector h2 = c2.fma(INV, MAGIC).sub(MAGIC);
                h2.fma(NEG, c2).add(FloatVector.fromArray(F, acc, 2 * L)).intoArray(acc, 2 * L);
                h2.add(FloatVector.fromArray(F, acc, 2 * L + PW)).intoArray(acc, 2 * L + PW);
            }
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
