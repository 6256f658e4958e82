package dev.gale.kernels.gemm;

import static dev.gale.kernels.Operands.F16;
import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.LE;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.VectorRegisters;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-tiled GEMM behind {@link GemmF32} and {@link GemmF16}: {@code Y[t][o] = Σ_i X[t][i] · W[o][i]}.
 *
 * <p>Blocking (BLIS/GotoBLAS loop nest; X plays BLIS's A, Wᵀ its B):
 * <ul>
 *   <li>Tokens are cut into chunks whose activations over all inputs fit {@link #XC} floats, packed once per chunk
 *       in input blocks of {@link #KC}, tokens in groups of {@link #MR} interleaved ({@code xp[k][0..MR)}), so a
 *       tile's MR broadcasts per input are adjacent.</li>
 *   <li>Per chunk, outputs are cut into blocks of {@link #NC} (the outer loop: the chunk's Y slab of NC outputs stays
 *       in L2 across the input blocks; with input blocks outside, all of Y streamed from L3 once per input block,
 *       and the F32 GEMM ran 1.15-1.3× slower at 512×4096×4096, 2× at 512×4096×14336, one thread, thread CPU time)
 *       and each block into panels of {@link #NR} = {@link #NV} vectors.
 *       Per (output block, input block) the weights are packed once into contiguous, input-major F32 panels
 *       {@code wp[panel][k][0..NR)} (zero-padded past the last output); {@code NC·KC} floats, sized to stay in L2.
 *       This is the only place F32 and F16 weights differ: F16 is decoded while packing.</li>
 *   <li>Tokens are then taken {@link #MC} at a time (an {@code MC·KC} activation block, also L2-resident next to the
 *       weight block); for each panel (KC·NR floats, read from L1 or L2 across the MC/MR tiles) the micro-kernel
 *       holds an {@code MR × NV}-vector tile of accumulators in registers and per input does {@code NV} weight loads,
 *       {@code MR} broadcasts and {@code MR·NV} FMAs. Without the MC loop the whole packed activation block
 *       ({@code tokens·KC} floats: 512 KiB at 512 tokens, 8 MiB at 8192) streamed from L3 once per panel.</li>
 *   <li>After each input block the tile is spilled to a small per-thread array and added into {@code Y} (stored on
 *       the first block), whole vectors then scalars at the right edge; leftover tokens use a one-token kernel.</li>
 * </ul>
 * Block-scaled codes with per-group scales ({@link GemmBlockScaled}) take {@link #computeScaled}: each group's exact
 * sums scaled and summed into a Y tile in scratch, and {@link PairedTile}'s two-products-per-lane micro-kernel on
 * pairable blocks. It keeps input blocks outside: its paired blocks are {@link #KCP} inputs, so Y passes through L3
 * only in/KCP times, while output blocks outside would stream the packed activations (2 MiB per block at 512 tokens)
 * once per output block: that order measured 1.6× slower (623 against 387 ms, W4A4 512×4096×14336, one thread).
 * {@link #parallel} splits the work over output panels or over token groups, whichever packs less (every thread
 * packs the whole of the other operand). Accumulation is F32 in input order within a block, blocks summed in order,
 * for every split and tile: the result does not depend on the thread count; the error is within
 * {@link dev.gale.kernels.Numerics#dotBound} of the exact dot product.
 */
final class GemmKernel {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    /**
     * Weight vectors per register tile (outputs per panel = NV·L): 3 where vectors are 512 bits (32 registers: a
     * 4×3 tile is 12 accumulators + 3 weights + 1 broadcast), 2 below. On 256-bit AVX2 (16 registers) the 4×3 tile
     * spills, measured at about half the speed of 4×2. {@code -Dgale.gemm.nv=2|3} overrides.
     */
    static final int NV = Math.clamp(Integer.getInteger("gale.gemm.nv", VectorRegisters.WIDE ? 3 : 2), 2, 3);
    /** Whether the third vector column of the tile is live (a constant: C2 folds the dead column away). */
    private static final boolean V3 = NV == 3;
    /** Outputs per packed panel. */
    static final int NR = NV * L;
    /**
     * Tokens per register tile, 4 or 6 ({@code -Dgale.gemm.mr}): MR·NV accumulators + NV weights + the broadcasts
     * must fit the register file (16 on AVX2, 32 with AVX-512). On AVX2 6×2 measured ~0.6× of 4×2 (spills): 4. With
     * 512-bit vectors 6×3 (18 accumulators + 3 weights + 1 broadcast) measured 88–91 against 138–147 ms at
     * 512×4096×4096 and 375–383 against 441–691 ms at 512×4096×14336 (Intel Xeon, two threads, alternating runs):
     * 6.
     */
    static final int MR = Integer.getInteger("gale.gemm.mr", VectorRegisters.WIDE ? 6 : 4) >= 6 ? 6 : 4;
    /** Whether tile rows 4 and 5 are live (a constant: C2 folds them away when MR is 4). */
    private static final boolean M6 = MR == 6;
    /**
     * Inputs per packed block; {@code -Dgale.gemm.kc} overrides (clamped to [16, 4096]). Each input block ends with
     * every tile added into Y, so a longer block merges less often. With 512-bit vectors 512 (a 96 KiB panel, read
     * from L2; the weight block NC·KC is 576 KiB, the activation block MC·KC 192 KiB, of a 2 MiB L2): one thread,
     * thread CPU time, against 256, the F32 GEMM ran 1.05–1.15× faster at 512×14336×4096, 1.01–1.14× at 4096×4096
     * and 2048×8192, and the 512-token prefill GEMMs on dequantized Q4_0/Q8_0 panels 1.13–1.26× (Xeon, 2026-11-28,
     * alternated runs). Below 512 bits 256 (KC·NR floats: 16 KiB), where 128, 256 and 512 measured within noise.
     */
    static final int KC = Math.clamp(Integer.getInteger("gale.gemm.kc", F.vectorBitSize() >= 512 ? 512 : 256), 16,
            4096);
    /**
     * Inputs per paired block of the block-scaled GEMM ({@link #computeScaled}), 1024. Y is read and written once per
     * block, and a paired block does its multiply-adds in half the FMAs, so Y's share doubles: one thread, 512 tokens
     * × 1024 rows × 4096 W4A4, blocks of 256, 512 and 1024 inputs measured 59, 69 and 77 GFLOP/s. Its packed panels
     * (half a float per output and input) take NC·KCP/2 floats.
     */
    static final int KCP = 1024;
    /**
     * Outputs per packed weight block ({@code -Dgale.gemm.nc}, about 256), a multiple of 2·NR so that it holds whole
     * {@link PairedTile paired} panels too: 256 outputs × KC 256 are 256 KiB, half of a 512 KiB L2, leaving room for
     * the MC·KC activation block; with 512-bit vectors (NR 48) 288, 576 KiB at KC 512, of a 2 MiB L2.
     */
    static final int NC = Math.max(1, Math.round(Math.clamp(Integer.getInteger("gale.gemm.nc", 256), 1, 1 << 16)
            / (2f * NR))) * 2 * NR;
    /** Tokens per activation block, a multiple of MR ({@code -Dgale.gemm.mc}): 96 × KC 512 are 192 KiB. */
    static final int MC = Math.max(1, Math.clamp(Integer.getInteger("gale.gemm.mc", 96), 1, 1 << 16) / MR) * MR;

    /**
     * Floats of packed activations per token chunk of the F32 GEMM (all inputs of the chunk's tokens): 4 Mi floats,
     * 16 MiB, 1024 tokens at 4096 inputs, 288 at 14336.
     */
    static final int XC = 1 << 22;
    /** Lane i reads element i·L of a row-major L×L block: one column of it ({@link #pack}). */
    private static final int[] COLUMN = java.util.stream.IntStream.range(0, L).map(i -> i * L).toArray();

    /** Per-thread scratch, allocated on a thread's first call (the activation block grows with the token count). */
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** A packed weight block, a packed activation block and the spilled accumulator tile. */
    private static final class Scratch {
        final float[] panels = new float[NC * Math.max(KC, KCP / 2)];
        /** Per-output weight scales of the packed block, per group ({@link GemmBlockScaled}). */
        float[] scales = new float[NC];
        /** A tile of Y summed over the groups of an input block ({@code computeScaled}). */
        final float[] ysum = new float[MR * Math.max(NR, PairedTile.PR)];
        /** The spilled tile: MR × NR outputs, or MR × {@link PairedTile#PR} for a paired panel. */
        final float[] tile = new float[MR * Math.max(NR, PairedTile.PR)];
        /** Decoded weight rows: two rows' group ({@link PairedTile#pack}), or one row's input block ({@code packScaled}). */
        float[] row = new float[0];
        float[] block = new float[0];

        float[] scales(int n) {
            if (scales.length < n) {
                scales = new float[n];
            }
            return scales;
        }

        float[] row(int group) {
            if (row.length < 2 * group) {
                row = new float[2 * group];
            }
            return row;
        }

        float[] block(int tokens, int kc) {
            int need = tokens * kc;
            if (block.length < need) {
                block = new float[need];
            }
            return block;
        }
    }

    private GemmKernel() {
    }

    /**
     * What {@link GemmBlockScaled} adds to the F32 GEMM: weight panels decoded by a codec, one input block per weight
     * group, and each tile's group sums scaled by the weight and activation scales before they are added into Y.
     */
    record Scaling<W>(BlockScaledCodec<W> codec, W w, int group, MemorySegment sx, long sxOff, int xGroup,
            int sxStride, boolean[] pairable) {
        /**
         * Whether the activations are plain F32 ({@code sx} null): the panels then hold the dequantized weights
         * {@code s·q}, input blocks are whole groups up to {@link #KC}, and the tile needs no scaling. This is the
         * prefill GEMM of Q4_0/Q8_0 weights: decoding costs once per panel and is shared by every token.
         */
        boolean dequantized() {
            return sx == null;
        }

        /** Inputs per packed block: the most whole groups that fit in KC (at least one). */
        int kStep() {
            return Math.max(1, KC / group) * group;
        }

        /**
         * Whether the group at {@code k0} runs the {@link PairedTile paired} kernel: the caller marked its activation
         * block pairable (every code product in [{@link PairedTile#MIN_PRODUCT}, {@link PairedTile#MAX_PRODUCT}])
         * and the group is whole spans.
         */
        boolean paired(int k0) {
            return pairable != null && PairedTile.fits(group) && pairable[k0 / xGroup];
        }

        /**
         * Inputs of the scaled block starting at {@code k0}: the following groups that are all paired or all not,
         * at most {@link #KCP} inputs when paired and {@link #KC} when not (at least one group).
         */
        int block(int k0, int in, boolean paired) {
            int limit = paired ? KCP : KC;
            int kc = group;
            while (k0 + kc < in && kc + group <= limit && paired(k0 + kc) == paired) {
                kc += group;
            }
            return kc;
        }

        /** Whether any input block is paired: the thread split then hands out whole paired panels. */
        boolean anyPaired() {
            if (pairable == null || !PairedTile.fits(group)) {
                return false;
            }
            for (boolean p : pairable) {
                if (p) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * All tokens and outputs on {@link WorkerPool#shared()}: split over output panels when there are at least as many
     * outputs as tokens, else over groups of MR tokens (each thread packs the whole weight block then, which costs
     * less than every thread packing all activations: BERT's 8192 tokens × 384 outputs).
     */
    static void parallel(boolean half, MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y,
            long yOff, int tokens, int out, int in) {
        parallel(half, w, wOff, null, x, xOff, y, yOff, tokens, out, in);
    }

    /** {@link #parallel} for block-scaled weights. */
    static <W> void parallel(Scaling<W> sc, MemorySegment x, long xOff, MemorySegment y, long yOff, int tokens,
            int out, int in) {
        parallel(false, null, 0, sc, x, xOff, y, yOff, tokens, out, in);
    }

    private static <W> void parallel(boolean half, MemorySegment w, long wOff, Scaling<W> sc, MemorySegment x,
            long xOff, MemorySegment y, long yOff, int tokens, int out, int in) {
        if (out >= tokens) {
            int width = sc != null && sc.anyPaired() ? PairedTile.PR : NR;
            int panels = (out + width - 1) / width;
            WorkerPool.shared().parallelFor(panels, 1, (s, e) -> compute(half, w, wOff, sc, x, xOff, y, yOff, out,
                    in, 0, tokens, s * width, Math.min(out, e * width)));
        } else {
            int groups = (tokens + MR - 1) / MR;
            WorkerPool.shared().parallelFor(groups, 1, (s, e) -> compute(half, w, wOff, sc, x, xOff, y, yOff, out,
                    in, s * MR, Math.min(tokens, e * MR), 0, out));
        }
    }

    /** Computes outputs {@code [outStart, outEnd)} of every token on the calling thread. */
    static void outputs(boolean half, MemorySegment w, long wOff, MemorySegment x, long xOff, MemorySegment y,
            long yOff, int tokens, int out, int in, int outStart, int outEnd) {
        compute(half, w, wOff, null, x, xOff, y, yOff, out, in, 0, tokens, outStart, outEnd);
    }

    /** {@link #outputs} for block-scaled weights. */
    static <W> void outputs(Scaling<W> sc, MemorySegment x, long xOff, MemorySegment y, long yOff, int tokens,
            int out, int in, int outStart, int outEnd) {
        compute(false, null, 0, sc, x, xOff, y, yOff, out, in, 0, tokens, outStart, outEnd);
    }

    /**
     * Computes tokens {@code [tStart, tEnd)} × outputs {@code [oStart, oEnd)} on the calling thread ({@code tStart}
     * a multiple of MR, so the tiles are those of the whole range). Weights are F32 or F16 at {@code w}, or, when
     * {@code sc} is not null, block-scaled codes (then {@link #computeScaled} unless they are dequantized).
     */
    private static <W> void compute(boolean half, MemorySegment w, long wOff, Scaling<W> sc, MemorySegment x,
            long xOff, MemorySegment y, long yOff, int out, int in, int tStart, int tEnd, int oStart, int oEnd) {
        if (sc != null && !sc.dequantized()) {
            computeScaled(sc, x, xOff, y, yOff, out, in, tStart, tEnd, oStart, oEnd);
            return;
        }
        Scratch scratch = SCRATCH.get();
        float[] wp = scratch.panels;
        float[] sp = scratch.scales;
        float[] acc = scratch.tile;
        long ldy = 4L * out;
        int kStep = sc == null ? KC : sc.kStep();
        float[] row = sc == null ? null : scratch.row(kStep);
        // Tokens in chunks whose activations, all inputs, are packed once (at most XC floats); per chunk, output
        // blocks outside and input blocks inside, so the Y slab of one output block (chunk × NC) stays in L2 across
        // the input blocks. Input blocks outside had streamed all of Y through L3 once per input block.
        int chunk = Math.max(MR, XC / in / MR * MR);
        for (int c0 = tStart; c0 < tEnd; c0 += chunk) {
            int mt = Math.min(chunk, tEnd - c0);
            int full = mt - mt % MR;
            float[] xp = scratch.block(mt, in);
            for (int k0 = 0; k0 < in; k0 += kStep) {
                packX(x, xOff + 4L * c0 * in, in, mt, k0, Math.min(kStep, in - k0), xp, mt * k0);
            }
            long y0 = yOff + c0 * ldy;
            for (int jc = oStart; jc < oEnd; jc += NC) {
                int nc = Math.min(NC, oEnd - jc);
                for (int k0 = 0; k0 < in; k0 += kStep) {
                    int kc = Math.min(kStep, in - k0);
                    boolean first = k0 == 0;
                    int xb = mt * k0;
                    for (int p = 0; p < nc; p += NR) {
                        if (sc == null) {
                            pack(half, w, wOff, in, jc + p, Math.min(NR, nc - p), k0, kc, wp, p * kc, acc);
                        } else {
                            packScaled(sc, jc + p, Math.min(NR, nc - p), k0, kc, wp, p * kc, sp, p, row);
                        }
                    }
                    for (int ic = 0; ic < mt; ic += MC) {
                        int icEnd = Math.min(mt, ic + MC);
                        for (int p = 0; p < nc; p += NR) {
                            int nr = Math.min(NR, nc - p);
                            int wo = p * kc;
                            long yp = y0 + 4L * (jc + p);
                            int t = ic;
                            for (; t < Math.min(icEnd, full); t += MR) {
                                tile(xp, xb + t * kc, wp, wo, kc, acc);
                                merge(acc, MR, NR, y, yp + t * ldy, ldy, nr, first);
                            }
                            for (; t < icEnd; t++) {
                                tile1(xp, xb + t * kc, wp, wo, kc, acc);
                                merge(acc, 1, NR, y, yp + t * ldy, ldy, nr, first);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * {@link #compute} for scaled block-scaled codes. Input blocks are runs of whole groups, paired or not, of at most
     * {@link #KCP} or {@link #KC} inputs ({@link Scaling#block}); per tile each group's exact sums are scaled and
     * added, in group order, into a tile of Y held in {@code Scratch.ysum} (Y's current values first, except in the
     * first block), which is stored once per block.
     * That is the same sequence of F32 additions as adding every group into Y, so the bits are those of a per-group
     * merge, but Y (larger than L2 at prefill sizes) is read and written once per block instead of once per group,
     * which had cost as much as the multiply-adds. A paired block runs {@link PairedTile} on panels of
     * {@link PairedTile#PR} outputs (the same exact sums), others the F32 tile.
     */
    private static <W> void computeScaled(Scaling<W> sc, MemorySegment x, long xOff, MemorySegment y, long yOff,
            int out, int in, int tStart, int tEnd, int oStart, int oEnd) {
        Scratch scratch = SCRATCH.get();
        float[] wp = scratch.panels;
        float[] acc = scratch.tile;
        float[] ys = scratch.ysum;
        int mt = tEnd - tStart;
        float[] xp = scratch.block(mt, KCP);
        long ldy = 4L * out;
        long y0 = yOff + tStart * ldy;
        int full = mt - mt % MR;
        int group = sc.group();
        float[] sp = scratch.scales(NC * Math.max(1, KCP / group));
        for (int k0 = 0, kc; k0 < in; k0 += kc) {
            boolean paired = sc.paired(k0);
            kc = sc.block(k0, in, paired);
            int groups = kc / group;
            boolean first = k0 == 0;
            // a paired panel is PR outputs wide and holds PR/2 floats per input
            int width = paired ? PairedTile.PR : NR;
            int perInput = paired ? PairedTile.PR / 2 : NR;
            packX(x, xOff + 4L * tStart * in, in, mt, k0, kc, xp);
            for (int jc = oStart; jc < oEnd; jc += NC) {
                int nc = Math.min(NC, oEnd - jc);
                for (int p = 0; p < nc; p += width) {
                    int nr = Math.min(width, nc - p);
                    int wo = p / width * kc * perInput;
                    for (int g = 0; g < groups; g++) {
                        int kg = k0 + g * group;
                        int at = wo + g * group * perInput;
                        if (paired) {
                            PairedTile.pack(sc, jc + p, nr, kg, group, wp, at, sp, g * NC + p, scratch.row(group));
                        } else {
                            packScaled(sc, jc + p, nr, kg, group, wp, at, sp, g * NC + p, scratch.row(group));
                        }
                    }
                }
                for (int ic = 0; ic < mt; ic += MC) {
                    int icEnd = Math.min(mt, ic + MC);
                    for (int p = 0; p < nc; p += width) {
                        int nr = Math.min(width, nc - p);
                        int wo = p / width * kc * perInput;
                        long yp = y0 + 4L * (jc + p);
                        for (int t = ic; t < icEnd; ) {
                            int rows = t < full ? MR : 1;
                            long yt = yp + t * ldy;
                            if (!first) {
                                load(ys, rows, width, y, yt, ldy, nr);
                            }
                            for (int g = 0; g < groups; g++) {
                                int xi = t * kc + g * group * rows;
                                int wi = wo + g * group * perInput;
                                if (paired && rows == MR) {
                                    PairedTile.tile(xp, xi, wp, wi, group, acc);
                                } else if (paired) {
                                    PairedTile.tile1(xp, xi, wp, wi, group, acc);
                                } else if (rows == MR) {
                                    tile(xp, xi, wp, wi, group, acc);
                                } else {
                                    tile1(xp, xi, wp, wi, group, acc);
                                }
                                scale(acc, rows, width, sp, g * NC + p, sc, tStart + t, k0 + g * group);
                                add(acc, rows, width, ys, first && g == 0);
                            }
                            merge(ys, rows, width, y, yt, ldy, nr, true);
                            t += rows;
                        }
                    }
                }
            }
        }
    }

    /** {@code ys[i][j] = Y[i][j]} for the tile's rows and {@code j < nr} (whole vectors, then scalars). */
    private static void load(float[] ys, int rows, int width, MemorySegment y, long y0, long ldy, int nr) {
        int nv = nr - nr % L;
        for (int i = 0; i < rows; i++) {
            long yr = y0 + i * ldy;
            int a = i * width;
            int j = 0;
            for (; j < nv; j += L) {
                FloatVector.fromMemorySegment(F, y, yr + 4L * j, LE).intoArray(ys, a + j);
            }
            for (; j < nr; j++) {
                ys[a + j] = y.get(F32, yr + 4L * j);
            }
        }
    }

    /** {@code ys = acc} ({@code set}) or {@code ys += acc} over the tile's rows × {@code width}. */
    private static void add(float[] acc, int rows, int width, float[] ys, boolean set) {
        for (int a = 0; a < rows * width; a += L) {
            FloatVector c = FloatVector.fromArray(F, acc, a);
            if (!set) {
                c = c.add(FloatVector.fromArray(F, ys, a));
            }
            c.intoArray(ys, a);
        }
    }

    /**
     * Decodes rows {@code [p0, p0 + nr)} × inputs {@code [k0, k0 + kc)} into the panel at {@code wo}
     * ({@code wp[wo + k·NR + j]}) and their group scales into {@code sp[so + j]}; zeros past {@code nr}. The input
     * block is one group, or, when dequantized, whole groups each multiplied by its scale (one rounding, the
     * dequantized weight itself). Each row is decoded contiguously into {@code row} (at least {@code kc} floats:
     * the codecs' branch-free paths), scaled there, then stored down the panel's column. One thread, Q8_0,
     * 64×8192×2048: 1.57–1.69× the strided element-by-element decode, which had cost more than the multiply-adds.
     * Layouts that keep a code of many rows side by side write a vector of rows per load instead
     * ({@link BlockScaledCodec#decodeColumns}).
     */
    private static <W> void packScaled(Scaling<W> sc, int p0, int nr, int k0, int kc, float[] wp, int wo, float[] sp,
            int so, float[] row) {
        int group = sc.group();
        int g = k0 / group;
        boolean dequantized = sc.dequantized();
        int j = 0;
        // a vector of rows at once where the codec can (row lanes: each load is a column of the panel)
        for (; j + L <= nr && sc.codec().decodeColumns(sc.w(), p0 + j, L, k0, kc, dequantized, wp, wo + j, NR);
                j += L) {
            if (!dequantized) {
                for (int i = j; i < j + L; i++) {
                    sp[so + i] = sc.codec().scale(sc.w(), p0 + i, g);
                }
            }
        }
        for (; j < nr; j++) {
            if (dequantized) {
                for (int kg = 0; kg < kc; kg += group) {
                    sc.codec().decode(sc.w(), p0 + j, k0 + kg, group, row, kg, 1);
                    scaleRow(row, kg, group, sc.codec().scale(sc.w(), p0 + j, g + kg / group));
                }
            } else {
                sc.codec().decode(sc.w(), p0 + j, k0, kc, row, 0, 1);
                sp[so + j] = sc.codec().scale(sc.w(), p0 + j, g);
            }
            int at = wo + j;
            for (int k = 0; k < kc; k++) {
                wp[at + k * NR] = row[k];
            }
        }
        for (j = nr; j < NR; j++) {
            for (int k = 0; k < kc; k++) {
                wp[wo + k * NR + j] = 0f;
            }
            sp[so + j] = 0f;
        }
    }

    /** {@code row[from, from + n) ·= s}. */
    private static void scaleRow(float[] row, int from, int n, float s) {
        // a vector operand: the scalar form branches on the operator in a profile every caller in the JVM shares
        FloatVector sv = FloatVector.broadcast(F, s);
        int k = 0;
        for (; k <= n - L; k += L) {
            FloatVector.fromArray(F, row, from + k).mul(sv).intoArray(row, from + k);
        }
        for (; k < n; k++) {
            row[from + k] *= s;
        }
    }

    /**
     * {@code acc[i][j] ·= s[j] · sx[token + i]} ({@code j < width}, the tile's row stride) for the input block at
     * {@code k0}: the tile's exact group sums become their scaled contribution ({@code s·sx} rounded once, then the
     * product).
     */
    private static <W> void scale(float[] acc, int rows, int width, float[] sp, int so, Scaling<W> sc, int token,
            int k0) {
        long xb = k0 / sc.xGroup();
        for (int i = 0; i < rows; i++) {
            FloatVector sx = FloatVector.broadcast(F,
                    sc.sx().get(F32, sc.sxOff() + 4L * ((long) (token + i) * sc.sxStride() + xb)));
            for (int j = 0; j < width; j += L) {
                FloatVector s = FloatVector.fromArray(F, sp, so + j).mul(sx);
                FloatVector.fromArray(F, acc, i * width + j).mul(s).intoArray(acc, i * width + j);
            }
        }
    }

    /**
     * Packs {@code X[·][k0, k0 + kc)}: tokens in groups of MR interleaved ({@code xp[t·kc + k·MR + i] =
     * X[t + i][k0 + k]}), so a tile's MR broadcasts per input are adjacent; leftover tokens row by row.
     */
    static void packX(MemorySegment x, long xOff, int in, int tokens, int k0, int kc, float[] xp) {
        packX(x, xOff, in, tokens, k0, kc, xp, 0);
    }

    /** {@link #packX} into {@code xp} from {@code xo}. */
    static void packX(MemorySegment x, long xOff, int in, int tokens, int k0, int kc, float[] xp, int xo) {
        int full = tokens - tokens % MR;
        long ldx = 4L * in;
        for (int t = 0; t < tokens; t++) {
            long src = xOff + t * ldx + 4L * k0;
            int base = xo + (t < full ? (t - t % MR) * kc + t % MR : t * kc);
            int step = t < full ? MR : 1;
            for (int k = 0; k < kc; k++) {
                xp[base + k * step] = x.get(F32, src + 4L * k);
            }
        }
    }

    /**
     * {@code wp[wo + k·NR + j] = W[p + j][k0 + k]} for j < nr, and 0 for nr ≤ j < NR. F32 rows go L at a time
     * through {@code blk} (at least L·L floats): L vector loads of their rows, then L gathers of its columns, each
     * stored down the panel, where the row-by-row copy did one checked scalar load and one scattered store per
     * weight (15 % of a 512×4096×4096 GEMM's samples, against 69 % for the tile).
     */
    static void pack(boolean half, MemorySegment w, long wOff, int in, int p, int nr, int k0, int kc, float[] wp,
            int wo, float[] blk) {
        long rowBytes = (long) in * (half ? 2 : 4);
        int j0 = 0;
        if (!half) {
            // L rows × L inputs at a time: L row loads into blk, then L column gathers, one store each down the panel
            int kv = kc - kc % L;
            for (; j0 + L <= nr; j0 += L) {
                long r0 = wOff + (p + j0) * rowBytes + 4L * k0;
                for (int kb = 0; kb < kv; kb += L) {
                    for (int r = 0; r < L; r++) {
                        FloatVector.fromMemorySegment(F, w, r0 + r * rowBytes + 4L * kb, LE).intoArray(blk, r * L);
                    }
                    for (int k = 0; k < L; k++) {
                        FloatVector.fromArray(F, blk, k, COLUMN, 0).intoArray(wp, wo + (kb + k) * NR + j0);
                    }
                }
                for (int r = 0; r < L; r++) {
                    for (int k = kv; k < kc; k++) {
                        wp[wo + k * NR + j0 + r] = w.get(F32, r0 + r * rowBytes + 4L * k);
                    }
                }
            }
        }
        for (int j = j0; j < nr; j++) {
            long row = wOff + (p + j) * rowBytes;
            if (half) {
                long src = row + 2L * k0;
                for (int k = 0; k < kc; k++) {
                    wp[wo + k * NR + j] = Float.float16ToFloat(w.get(F16, src + 2L * k));
                }
            } else {
                long src = row + 4L * k0;
                for (int k = 0; k < kc; k++) {
                    wp[wo + k * NR + j] = w.get(F32, src + 4L * k);
                }
            }
        }
        if (nr < NR) {
            for (int k = 0; k < kc; k++) {
                java.util.Arrays.fill(wp, wo + k * NR + nr, wo + (k + 1) * NR, 0f);
            }
        }
    }

    /** MR tokens × NR outputs over kc inputs, into {@code acc[MR][NR]}. */
    static void tile(float[] xp, int xi, float[] wp, int wo, int kc, float[] acc) {
        FloatVector c00 = FloatVector.zero(F);
        FloatVector c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        FloatVector c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
        for (int k = 0, wi = wo; k < kc; k++, wi += NR, xi += MR) {
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
        c00.intoArray(acc, 0);
        c01.intoArray(acc, L);
        c10.intoArray(acc, NR);
        c11.intoArray(acc, NR + L);
        c20.intoArray(acc, 2 * NR);
        c21.intoArray(acc, 2 * NR + L);
        c30.intoArray(acc, 3 * NR);
        c31.intoArray(acc, 3 * NR + L);
        if (V3) {
            c02.intoArray(acc, 2 * L);
            c12.intoArray(acc, NR + 2 * L);
            c22.intoArray(acc, 2 * NR + 2 * L);
            c32.intoArray(acc, 3 * NR + 2 * L);
        }
        if (M6) {
            c40.intoArray(acc, 4 * NR);
            c41.intoArray(acc, 4 * NR + L);
            c50.intoArray(acc, 5 * NR);
            c51.intoArray(acc, 5 * NR + L);
            if (V3) {
                c42.intoArray(acc, 4 * NR + 2 * L);
                c52.intoArray(acc, 5 * NR + 2 * L);
            }
        }
    }

    /** One token × NR outputs over kc inputs (leftover tokens), into {@code acc[0][NR]}. */
    static void tile1(float[] xp, int xi, float[] wp, int wo, int kc, float[] acc) {
        FloatVector c0 = FloatVector.zero(F);
        FloatVector c1 = c0, c2 = c0;
        for (int k = 0, wi = wo; k < kc; k++, wi += NR) {
            FloatVector b = FloatVector.broadcast(F, xp[xi + k]);
            c0 = FloatVector.fromArray(F, wp, wi).fma(b, c0);
            c1 = FloatVector.fromArray(F, wp, wi + L).fma(b, c1);
            if (V3) {
                c2 = FloatVector.fromArray(F, wp, wi + 2 * L).fma(b, c2);
            }
        }
        c0.intoArray(acc, 0);
        c1.intoArray(acc, L);
        if (V3) {
            c2.intoArray(acc, 2 * L);
        }
    }

    /**
     * Stores (first input block) or adds {@code acc[rows][0..nr)} (row stride {@code width}) into the Y rows at byte
     * {@code y0}, {@code ldy} bytes apart. Whole vectors, then scalars for the right edge (no masks: they are slow on
     * AVX2).
     */
    private static void merge(float[] acc, int rows, int width, MemorySegment y, long y0, long ldy, int nr,
            boolean first) {
        int nv = nr - nr % L;
        for (int i = 0; i < rows; i++) {
            long yr = y0 + i * ldy;
            int a = i * width;
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
