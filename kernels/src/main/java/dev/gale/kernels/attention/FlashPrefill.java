package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F32;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.FloatConversions;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.VectorRegisters;
import dev.gale.kernels.activation.VectorMath;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * FlashAttention-2 forward for prefill on the CPU (papers.md §1): causal or bidirectional, GQA/MQA, sliding window,
 * key-padding mask, batches of sequences of different lengths ({@link PrefillBatch}).
 *
 * <h2>Tiling</h2>
 * A tile is (sequence, KV head, block of query positions). Its rows are the {@code g = Hq/Hkv} query heads of the KV
 * head at each of {@code B_r = max(1, rows / g)} positions ({@link #rowsFor}), so every K/V block is loaded once for
 * the whole GQA group.
 * The tile walks the keys its rows can see in blocks of {@link #KEY_BLOCK} ({@code B_c}); blocks entirely above the
 * causal diagonal or outside the window are never visited, and only blocks that cross a mask boundary (or hold a
 * padded key) pay for masking.
 *
 * <h2>Rows in vector lanes</h2>
 * The query tile is kept transposed, {@code Qᵀ [d][rows]} (pre-multiplied by the score scale), so the
 * score block is computed as {@code Sᵀ = K·Qᵀ}: for each {@code e}, a broadcast of {@code K[c][e]} times a
 * vector of rows. The register block is 4 keys × {@link #RV} row vectors (16 accumulators, 4 loads and 4 broadcasts
 * per 16 FMAs with 32 vector registers; half that with 16). With rows in lanes the whole online softmax is vertical:
 * the running max, the rescale factor, the exponential and the row sums are lane-wise over keys, with no horizontal
 * reduction anywhere. {@code P·V} keeps {@code Õᵀ [d][rows]} the same way: broadcast {@code V[c][e]} times a vector
 * of {@code P[rows][c]}, 4 dims × {@link #RV} row vectors per block. The output is transposed back and normalised
 * once per tile (deferred normalisation). Any {@code d} works: no loop vectorises over {@code d}.
 *
 * <h2>Keys and values packed per head</h2>
 * A call first packs the keys and values of a group of KV heads into contiguous panels ({@code kPack}, {@code vPack});
 * tiles then read their key blocks from there, head by head. See {@code kPack} for why.
 *
 * <h2>Masks without NaN</h2>
 * A masked score is −∞. The running max {@code m} may stay −∞ for a row that has seen nothing yet; the exponent
 * shift is {@code max(m, −FLT_MAX)}, finite, so {@code exp(−∞ − shift) = 0} and the old state's factor
 * {@code exp(m_old − shift)} is 0 or a number in (0, 1], never {@code exp(−∞ + ∞)}. A row that saw no key ends
 * with {@code l = 0} and outputs zeros, as {@link SoftmaxState} specifies.
 *
 * <h2>Numerics</h2>
 * Each block's {@code P·V} and row sum are accumulated from zero and then added to the rescaled running state
 * (blocked summation), so the accumulation error grows like {@code (B_c + N/B_c)·u}, not {@code N·u}; see
 * {@link #errorBound}.
 *
 * <p>An instance holds fixed scratch for every thread of {@link WorkerPool#shared()} and panels grown to its largest
 * call, and allocates nothing per call after that; one call runs at a time per instance (calls are serialised).
 * Tiles are claimed dynamically, head by head, costliest first within a head (the last query blocks of a causal
 * sequence see the most keys).
 */
public final class FlashPrefill {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /**
     * The {@code Qᵀ} tile's size: 32 KiB stays in a 48 KiB L1D beside the K rows being broadcast. Rows per tile
     * (heads × positions) are {@code QT_FLOATS / d} within [64, 128]: 128 at d = 64, which halves the key-block
     * reads and per-block bookkeeping per FLOP and measured 1.04–1.08× faster there (with per-tile K/V copies, before
     * the panels); 64 at d = 128, where 128 rows (64 KiB) measured 0.98–1.02×.
     */
    private static final int QT_FLOATS = 8192;
    /** Keys per block {@code B_c}: K and V blocks of 64 × d floats (32 KiB each at d = 128). */
    public static final int KEY_BLOCK = 64;
    /** Keys per score register block. */
    private static final int KR = 4;
    /** Dims per P·V register block. */
    private static final int DR = 4;
    /**
     * The most floats a packed K (or V) panel holds: 64 MiB. A call packs as many KV heads at a time as fit (all of
     * them below 16k tokens at d = 128), at least one.
     */
    private static final long PACK_FLOATS = 16L << 20;
    /** Rows per chunk of the packing loop. */
    private static final int PACK_GRAIN = 64;
    /** The smallest exponent whose {@code 2^x} {@link #softmax} keeps: {@code 2^-126} is the least normal float. */
    private static final float EXP2_LO = -126f;
    private static final float LN2 = 0.6931471805599453f;
    /**
     * Row vectors per register block: 4 where there are 32 vector registers ({@link VectorRegisters#WIDE}), 2 where
     * there are 16 (AVX2). A block of 4 keys (or dims) × 4 row vectors keeps 16 accumulators in flight, twice the 8 that two
     * FMA ports of 4-cycle latency need, and issues a broadcast per 4 FMAs instead of per 2 (1.11–1.23× the 4 × 2
     * block, 2k causal, d = 64 and 128); on 16 registers it would spill.
     */
    static final int RV = VectorRegisters.WIDE ? 4 : 2;
    /** Whether the third and fourth row vectors of the register blocks are live (a constant C2 folds). */
    private static final boolean V4 = RV == 4;

    private final AttentionSpec spec;
    private final int g;
    private final int d;
    /** Query positions per tile. */
    private final int positions;
    /** Rows per tile rounded up to {@link #RV} vectors: the lane extent of every tile array. */
    private final int rowsPadded;
    private final WorkerPool pool;
    private final Worker[] workers;
    private final AtomicInteger nextTile = new AtomicInteger();
    private final WorkerPool.RangeBody body = this::work;
    private final WorkerPool.RangeBody packBody = this::pack;
    private final long packFloats;
    /**
     * Keys and values of the current head group, one contiguous {@code [head][token][d]} F32 panel each, packed once
     * per call. Tiles read their key blocks from here instead of copying them from the strided input per tile:
     * the input's rows are {@code Hkv·d} floats apart, a power of two (2 KiB at d = 64 with 8 KV heads), so by the
     * set arithmetic a head's rows use an eighth of the L2's sets, and every tile read them again from L3 (the copies
     * took 11–18 % of the time, timed per phase; head-major order alone changed nothing). Packed, a head's panel is
     * read from L2 by the tiles that follow. Measured 1.05–1.16× the per-tile copies (2k causal, d = 64 and 128).
     * Grown to the largest call.
     */
    private float[] kPack = new float[0];
    private float[] vPack = new float[0];
    private final float scale;

    // The current call, published to the pool by parallelFor (its job hand-off is a volatile write).
    private int[] table;
    private int sequences;
    private int[] tileEnd = new int[8];
    private int tiles;
    private int totalK;
    /** The first KV head of the group being run. */
    private int head0;
    private HeadView q;
    private HeadView k;
    private HeadView v;
    private HeadView out;
    private MemorySegment keyMask;
    private long maskOff;

    /** Per-thread scratch: the tile's transposed queries, output and scores, and the running softmax state. */
    private static final class Worker {
        final float[] qT;
        final float[] oT;
        final float[] st;
        final float[] m;
        final float[] l;
        final float[] corr;
        final int[] first;
        final int[] last;
        final boolean[] keyOk = new boolean[KEY_BLOCK];
        /** Where the current key block starts in {@code kPack}/{@code vPack}. */
        int panel;

        Worker(int d, int rows, int positions) {
            qT = new float[d * rows];
            oT = new float[d * rows];
            st = new float[KEY_BLOCK * rows];
            m = new float[rows];
            l = new float[rows];
            corr = new float[rows];
            first = new int[positions];
            last = new int[positions];
        }
    }

    public FlashPrefill(AttentionSpec spec) {
        this(spec, PACK_FLOATS);
    }

    /** With a packed panel of at most {@code packFloats} floats: tests use small ones to run several head groups. */
    FlashPrefill(AttentionSpec spec, long packFloats) {
        this.spec = spec;
        this.packFloats = packFloats;
        this.g = spec.group();
        this.d = spec.headDim();
        this.scale = spec.scale();
        this.positions = Math.max(1, rowsFor(d) / g);
        this.rowsPadded = roundUp(positions * g, RV * L);
        this.pool = WorkerPool.shared();
        this.workers = new Worker[pool.threads()];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(d, rowsPadded, positions);
        }
    }

    public AttentionSpec spec() {
        return spec;
    }

    /**
     * The scalar reference: {@link AttentionReference} (double) per sequence of the batch.
     *
     * @param keyMask U8 key-padding mask over the {@code totalK} key tokens at {@code maskOff} (0 = padding), or null
     */
    public static void reference(AttentionSpec spec, PrefillBatch batch, HeadView q, HeadView k, HeadView v,
            HeadView out, MemorySegment keyMask, long maskOff) {
        for (int s = 0; s < batch.sequences(); s++) {
            AttentionReference.attend(spec, shift(q, batch.qStart(s)), shift(k, batch.kStart(s)),
                    shift(v, batch.kStart(s)), shift(out, batch.qStart(s)), batch.qLen(s), batch.kLen(s), keyMask,
                    maskOff + batch.kStart(s), null, null);
        }
    }

    /** The view starting {@code tokens} tokens later. */
    static HeadView shift(HeadView h, int tokens) {
        return new HeadView(h.segment(), h.at(tokens, 0), h.dtype(), h.tokenStride(), h.headStride());
    }

    /**
     * The error an F32 kernel of this family may make on an output element, relative to its scale
     * {@code Σ_j p_j·|v_j|} (from {@link AttentionReference}). Two terms:
     * <ul>
     *   <li>accumulation: each key block of {@code B_c ≤ KEY_BLOCK} terms is summed from zero, then the
     *       {@code ⌈N/B_c⌉} block results are combined, so the rounding of {@code Σ p·v} and {@code l} is within
     *       {@code (B_c + N/B_c + O(1))·u}; {@link Numerics#F32_REL} covers the realistic lengths;</li>
     *   <li>scores: {@code s_j} carries an error {@code δ_j ≤ (d + 2)·u·|s|_j} with
     *       {@code |s|_j = τ·Σ_e |q_e·k_{j,e}|} (scaled q rounding, d products and sums, the subtraction of the max).
     *       A perturbed logit perturbs {@code p_j} by the factor {@code exp(δ_j − Σ p δ)}, so the output moves by at
     *       most {@code 2·max δ·Σ p·|v|}. Where the logits are large (|s| of hundreds) this term dominates.</li>
     * </ul>
     *
     * @param maxAbsScore {@code max_j τ·Σ_e |q_e·k_{j,e}|} over the row's visible keys
     */
    public static double errorBound(int keys, int d, double maxAbsScore) {
        double blocks = KEY_BLOCK + Math.ceil(keys / (double) KEY_BLOCK) + 16;
        double accumulation = Math.max(Numerics.F32_REL, blocks * Numerics.U_F32);
        return accumulation + 2 * (d + 2) * Numerics.U_F32 * maxAbsScore;
    }

    /** Prefill attention of {@code batch}, tiles split over {@link WorkerPool#shared()}. */
    public void apply(PrefillBatch batch, HeadView q, HeadView k, HeadView v, HeadView out, MemorySegment keyMask,
            long maskOff) {
        apply(batch.tableRef(), batch.sequences(), q, k, v, out, keyMask, maskOff);
    }

    /**
     * The same from a table {@code [qStart, qLen, kStart, kLen]} per sequence ({@link PrefillBatch}); allocates
     * nothing once the instance has seen as many sequences.
     */
    public synchronized void apply(int[] table, int sequences, HeadView q, HeadView k, HeadView v, HeadView out,
            MemorySegment keyMask, long maskOff) {
        PrefillBatch.check(table, sequences);
        int totalQ = PrefillBatch.ends(table, sequences, 0);
        int totalK = PrefillBatch.ends(table, sequences, 2);
        q.require("prefill", "q", totalQ, spec.heads(), d);
        out.require("prefill", "out", totalQ, spec.heads(), d);
        k.require("prefill", "k", totalK, spec.kvHeads(), d);
        v.require("prefill", "v", totalK, spec.kvHeads(), d);
        if (keyMask != null && maskOff + totalK > keyMask.byteSize()) {
            throw new IllegalArgumentException("prefill: key mask needs " + totalK + " bytes at " + maskOff);
        }
        if (tileEnd.length < sequences) {
            tileEnd = new int[Math.max(sequences, 2 * tileEnd.length)];
        }
        int hkv = spec.kvHeads();
        long headFloats = Math.max(1L, (long) totalK * d);
        int group = (int) Math.max(1, Math.min(hkv, packFloats / headFloats));
        // KR − 1 rows of slack: the score loop reads whole groups of KR keys past a block's end (their scores are
        // never used).
        int packed = Math.toIntExact(group * headFloats + (long) (KR - 1) * d);
        if (kPack.length < packed) {
            kPack = new float[packed];
            vPack = new float[packed];
        }
        this.table = table;
        this.sequences = sequences;
        this.totalK = totalK;
        this.q = q;
        this.k = k;
        this.v = v;
        this.out = out;
        this.keyMask = keyMask;
        this.maskOff = maskOff;
        try {
            for (int h0 = 0; h0 < hkv; h0 += group) {
                int heads = Math.min(group, hkv - h0);
                int n = 0;
                for (int s = 0; s < sequences; s++) {
                    n = Math.toIntExact(n + (long) ceilDiv(table[s * 4 + 1], positions) * heads);
                    tileEnd[s] = n;
                }
                this.head0 = h0;
                this.tiles = n;
                nextTile.set(0);
                pool.parallelFor(heads * totalK, PACK_GRAIN, packBody);
                pool.parallelFor(workers.length, 1, body);
            }
        } finally {
            this.table = null;
            this.q = this.k = this.v = this.out = null;
            this.keyMask = null;
        }
    }

    /** One pool chunk per thread: the chunk index picks the scratch, tiles are claimed until none is left. */
    private void work(int from, int to) {
        Worker w = workers[from];
        for (int t = nextTile.getAndIncrement(); t < tiles; t = nextTile.getAndIncrement()) {
            tile(w, t);
        }
    }

    private void tile(Worker w, int t) {
        int s = 0;
        while (tileEnd[s] <= t) {
            s++;
        }
        int local = t - (s == 0 ? 0 : tileEnd[s - 1]);
        int nq = table[s * 4 + 1];
        int nk = table[s * 4 + 3];
        int qBlocks = ceilDiv(nq, positions);
        // Head by head, so a thread's next tile reads the panel its last one left in L2; costliest (last) query
        // blocks first within a head.
        int qb = qBlocks - 1 - local % qBlocks;
        int kvHead = head0 + local / qBlocks;
        int i0 = qb * positions;
        int np = Math.min(positions, nq - i0);
        int qTok = table[s * 4] + i0;
        int kTok = table[s * 4 + 2];
        for (int p = 0; p < np; p++) {
            w.first[p] = spec.firstKey(i0 + p, nq, nk);
            w.last[p] = spec.lastKey(i0 + p, nq, nk);
        }
        loadQueries(w, qTok, kvHead, np);
        int lo = w.first[0];
        int hi = w.last[np - 1];
        for (int kb = lo; kb <= hi; kb += KEY_BLOCK) {
            int nc = Math.min(KEY_BLOCK, hi + 1 - kb);
            boolean masked = loadKeys(w, kTok + kb, kvHead, nc);
            scores(w, nc);
            if (masked || w.first[np - 1] > kb || w.last[0] < kb + nc - 1) {
                mask(w, kb, nc, np);
            }
            softmax(w, nc);
            accumulate(w, nc);
        }
        store(w, qTok, kvHead, np);
    }

    /** {@code Qᵀ[e][r] = scale·q[pos][kvHead·g + hh][e]} for real rows, zeros for padding rows; state reset. */
    private void loadQueries(Worker w, int qTok, int kvHead, int np) {
        int rp = rowsPadded;
        int rows = np * g;
        float[] qT = w.qT;
        for (int p = 0; p < np; p++) {
            for (int hh = 0; hh < g; hh++) {
                int r = p * g + hh;
                int h = kvHead * g + hh;
                if (q.dtype() == DType.F32) {
                    long at = q.at(qTok + p, h);
                    MemorySegment seg = q.segment();
                    for (int e = 0; e < d; e++) {
                        qT[e * rp + r] = seg.get(F32, at + 4L * e) * scale;
                    }
                } else {
                    for (int e = 0; e < d; e++) {
                        qT[e * rp + r] = q.get(qTok + p, h, e) * scale;
                    }
                }
            }
        }
        if (rows < rp) {
            for (int e = 0; e < d; e++) {
                Arrays.fill(qT, e * rp + rows, e * rp + rp, 0f);
            }
        }
        Arrays.fill(w.m, Float.NEGATIVE_INFINITY);
        Arrays.fill(w.l, 0f);
        Arrays.fill(w.oT, 0f);
    }

    /**
     * Points the worker at the packed rows of tokens {@code [tok, tok + nc)} and reads their key-padding flags.
     * Returns true when a key of the block is padding.
     */
    private boolean loadKeys(Worker w, int tok, int kvHead, int nc) {
        w.panel = ((kvHead - head0) * totalK + tok) * d;
        boolean padded = false;
        for (int c = 0; c < nc; c++) {
            boolean ok = keyMask == null || keyMask.get(JAVA_BYTE, maskOff + tok + c) != 0;
            w.keyOk[c] = ok;
            padded |= !ok;
        }
        return padded;
    }

    /** Packs rows {@code [from, to)} of the head group: row {@code i} is token {@code i % totalK} of its head. */
    private void pack(int from, int to) {
        for (int i = from; i < to; i++) {
            int h = head0 + i / totalK;
            int t = i % totalK;
            copyRow(k, t, h, kPack, i * d);
            copyRow(v, t, h, vPack, i * d);
        }
    }

    /** One head vector into {@code dst}: a bulk copy from F32, the hardware conversion from F16. */
    private void copyRow(HeadView h, int tok, int head, float[] dst, int off) {
        if (h.dtype() == DType.F32) {
            MemorySegment.copy(h.segment(), F32, h.at(tok, head), dst, off, d);
        } else {
            FloatConversions.f16ToF32(h.segment(), h.at(tok, head), dst, off, d);
        }
    }

    /**
     * {@code Sᵀ = K·Qᵀ} over the block, an FMA per (key, row, e): 4 keys × {@link #RV} row vectors per register
     * block. The third and fourth row vectors sit in {@code if (V4)} blocks, which C2 folds away when {@code RV} is
     * 2, so one loop serves both register files.
     */
    private void scores(Worker w, int nc) {
        float[] qT = w.qT;
        float[] kb = kPack;
        float[] st = w.st;
        int rp = rowsPadded;
        int dd = d;
        int keys = roundUp(nc, KR); // scores of keys past nc are computed from whatever rows follow and never read
        for (int c = 0; c < keys; c += KR) {
            int k0 = w.panel + c * dd;
            int k1 = k0 + dd;
            int k2 = k1 + dd;
            int k3 = k2 + dd;
            for (int r = 0; r < rp; r += RV * L) {
                FloatVector a00 = FloatVector.zero(F);
                FloatVector a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
                // Indices linear in the loop variable, so C2 hoists the range checks out of the loop.
                for (int e = 0; e < dd; e++) {
                    int qi = e * rp + r;
                    FloatVector q0 = FloatVector.fromArray(F, qT, qi);
                    FloatVector q1 = FloatVector.fromArray(F, qT, qi + L);
                    FloatVector b0 = FloatVector.broadcast(F, kb[k0 + e]);
                    FloatVector b1 = FloatVector.broadcast(F, kb[k1 + e]);
                    FloatVector b2 = FloatVector.broadcast(F, kb[k2 + e]);
                    FloatVector b3 = FloatVector.broadcast(F, kb[k3 + e]);
                    a00 = q0.fma(b0, a00);
                    a01 = q1.fma(b0, a01);
                    a10 = q0.fma(b1, a10);
                    a11 = q1.fma(b1, a11);
                    a20 = q0.fma(b2, a20);
                    a21 = q1.fma(b2, a21);
                    a30 = q0.fma(b3, a30);
                    a31 = q1.fma(b3, a31);
                    if (V4) {
                        FloatVector q2 = FloatVector.fromArray(F, qT, qi + 2 * L);
                        FloatVector q3 = FloatVector.fromArray(F, qT, qi + 3 * L);
                        a02 = q2.fma(b0, a02);
                        a03 = q3.fma(b0, a03);
                        a12 = q2.fma(b1, a12);
                        a13 = q3.fma(b1, a13);
                        a22 = q2.fma(b2, a22);
                        a23 = q3.fma(b2, a23);
                        a32 = q2.fma(b3, a32);
                        a33 = q3.fma(b3, a33);
                    }
                }
                int o = c * rp + r;
                a00.intoArray(st, o);
                a01.intoArray(st, o + L);
                a10.intoArray(st, o + rp);
                a11.intoArray(st, o + rp + L);
                a20.intoArray(st, o + 2 * rp);
                a21.intoArray(st, o + 2 * rp + L);
                a30.intoArray(st, o + 3 * rp);
                a31.intoArray(st, o + 3 * rp + L);
                if (V4) {
                    a02.intoArray(st, o + 2 * L);
                    a03.intoArray(st, o + 3 * L);
                    a12.intoArray(st, o + rp + 2 * L);
                    a13.intoArray(st, o + rp + 3 * L);
                    a22.intoArray(st, o + 2 * rp + 2 * L);
                    a23.intoArray(st, o + 2 * rp + 3 * L);
                    a32.intoArray(st, o + 3 * rp + 2 * L);
                    a33.intoArray(st, o + 3 * rp + 3 * L);
                }
            }
        }
    }

    /** Sets masked scores to −∞: padded keys for every row, causal/window limits per query position. */
    private void mask(Worker w, int kb, int nc, int np) {
        float[] st = w.st;
        int rp = rowsPadded;
        for (int c = 0; c < nc; c++) {
            int base = c * rp;
            if (!w.keyOk[c]) {
                Arrays.fill(st, base, base + rp, Float.NEGATIVE_INFINITY);
                continue;
            }
            int j = kb + c;
            for (int p = 0; p < np; p++) {
                if (j < w.first[p] || j > w.last[p]) {
                    Arrays.fill(st, base + p * g, base + p * g + g, Float.NEGATIVE_INFINITY);
                }
            }
        }
    }

    /**
     * The online-softmax step, lane-wise over rows: new max, the old state's factor (kept in {@code corr} for
     * {@link #accumulate}), {@code P = exp(S − shift)} in place and the row sums.
     *
     * <p>The exponent is never positive, so {@code exp} is taken as {@code 2^x} with {@code x = (s − shift)·log2 e}:
     * round to {@code n}, {@code r = x − n} exactly, {@code 2^r = e^(r·ln 2)} by {@link VectorMath#exp}'s
     * polynomial, and {@code 2^n} built in the exponent field. An {@code x} below −126 (a masked −∞ among them)
     * gives 0 instead of a subnormal: below {@code 2^-126} of the row's largest term, which is 1. About 21 vector
     * operations per 16 scores instead of {@link VectorMath#exp}'s 27 (no two-word {@code ln 2} reduction, no upper
     * clamp, one scale instead of two): at d = 64 the softmax is a fifth of the tile's time. Folding {@code log2 e}
     * into {@code Qᵀ} instead would save the multiply, but the int8 MiniLM encoder test then ended 0.9975 from ONNX
     * Runtime on one sentence of seven (the other six 1 − 1e-14; 1 − 6e-14 for all seven this way). The attention
     * was as close to the double reference in both forms on those inputs ({@code |Δ| ≤ 2.3e-4·(|o| + 1e-3)}), so
     * most likely one of that sentence's dynamic quantizations sits near a rounding boundary that the folded form's
     * last-bit differences happen to cross (an ulp more on the scale did not): a discrete flip in the test's int8
     * pipeline, not a loss of accuracy here.
     * Written out in the loop so no vector crosses a call C2 might decline to inline (it then boxes every vector).
     */
    private void softmax(Worker w, int nc) {
        float[] st = w.st;
        float[] m = w.m;
        float[] l = w.l;
        float[] corrs = w.corr;
        int rp = rowsPadded;
        FloatVector log2e = FloatVector.broadcast(F, VectorMath.LOG2E);
        FloatVector shifter = FloatVector.broadcast(F, VectorMath.SHIFTER);
        FloatVector ln2 = FloatVector.broadcast(F, LN2);
        FloatVector e0 = FloatVector.broadcast(F, VectorMath.E0);
        FloatVector e1 = FloatVector.broadcast(F, VectorMath.E1);
        FloatVector e2 = FloatVector.broadcast(F, VectorMath.E2);
        FloatVector e3 = FloatVector.broadcast(F, VectorMath.E3);
        FloatVector e4 = FloatVector.broadcast(F, VectorMath.E4);
        FloatVector e5 = FloatVector.broadcast(F, VectorMath.E5);
        FloatVector zero = FloatVector.zero(F);
        for (int r = 0; r < rp; r += L) {
            FloatVector mOld = FloatVector.fromArray(F, m, r);
            FloatVector mx = mOld;
            for (int c = 0; c < nc; c++) {
                mx = mx.max(FloatVector.fromArray(F, st, c * rp + r));
            }
            FloatVector shift = mx.max(-Float.MAX_VALUE);
            FloatVector sum = FloatVector.zero(F);
            // c = -1 is the old state's factor exp(m_old − shift); c >= 0 the block's probabilities.
            for (int c = -1, o = r - rp; c < nc; c++, o += rp) {
                FloatVector x = (c < 0 ? mOld : FloatVector.fromArray(F, st, o)).sub(shift).mul(log2e);
                FloatVector xc = x.max(EXP2_LO);
                FloatVector t = xc.add(shifter);
                FloatVector rr = xc.sub(t.sub(shifter)).mul(ln2);
                FloatVector p = rr.fma(e5, e4);
                p = p.fma(rr, e3);
                p = p.fma(rr, e2);
                p = p.fma(rr, e1);
                p = p.fma(rr, e0);
                FloatVector y = p.fma(rr.mul(rr), rr).add(1f);
                IntVector bits = ((IntVector) t.reinterpretAsInts()).sub(VectorMath.SHIFTER_BITS - 127)
                        .lanewise(VectorOperators.LSHL, 23);
                FloatVector ex = y.mul((FloatVector) bits.reinterpretAsFloats())
                        .blend(zero, x.compare(VectorOperators.LT, EXP2_LO));
                if (c < 0) {
                    ex.intoArray(corrs, r);
                } else {
                    ex.intoArray(st, o);
                    sum = sum.add(ex);
                }
            }
            mx.intoArray(m, r);
            FloatVector.fromArray(F, l, r).fma(FloatVector.fromArray(F, corrs, r), sum).intoArray(l, r);
        }
    }

    /**
     * {@code Õᵀ = corr·Õᵀ + (P·V)ᵀ}, the block summed from zero: 4 dims × {@link #RV} row vectors per register block
     * (the upper two in {@code if (V4)} blocks, as in {@link #scores}), then the {@code d % 4} tail.
     */
    private void accumulate(Worker w, int nc) {
        float[] st = w.st;
        float[] vb = vPack;
        float[] oT = w.oT;
        float[] corr = w.corr;
        int rp = rowsPadded;
        int dd = d;
        int e = 0;
        for (; e + DR <= dd; e += DR) {
            for (int r = 0; r < rp; r += RV * L) {
                FloatVector a00 = FloatVector.zero(F);
                FloatVector a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
                for (int c = 0; c < nc; c++) {
                    int pi = c * rp + r;
                    FloatVector p0 = FloatVector.fromArray(F, st, pi);
                    FloatVector p1 = FloatVector.fromArray(F, st, pi + L);
                    int vi = w.panel + c * dd + e;
                    FloatVector b0 = FloatVector.broadcast(F, vb[vi]);
                    FloatVector b1 = FloatVector.broadcast(F, vb[vi + 1]);
                    FloatVector b2 = FloatVector.broadcast(F, vb[vi + 2]);
                    FloatVector b3 = FloatVector.broadcast(F, vb[vi + 3]);
                    a00 = p0.fma(b0, a00);
                    a01 = p1.fma(b0, a01);
                    a10 = p0.fma(b1, a10);
                    a11 = p1.fma(b1, a11);
                    a20 = p0.fma(b2, a20);
                    a21 = p1.fma(b2, a21);
                    a30 = p0.fma(b3, a30);
                    a31 = p1.fma(b3, a31);
                    if (V4) {
                        FloatVector p2 = FloatVector.fromArray(F, st, pi + 2 * L);
                        FloatVector p3 = FloatVector.fromArray(F, st, pi + 3 * L);
                        a02 = p2.fma(b0, a02);
                        a03 = p3.fma(b0, a03);
                        a12 = p2.fma(b1, a12);
                        a13 = p3.fma(b1, a13);
                        a22 = p2.fma(b2, a22);
                        a23 = p3.fma(b2, a23);
                        a32 = p2.fma(b3, a32);
                        a33 = p3.fma(b3, a33);
                    }
                }
                FloatVector c0 = FloatVector.fromArray(F, corr, r);
                FloatVector c1 = FloatVector.fromArray(F, corr, r + L);
                int o = e * rp + r;
                FloatVector.fromArray(F, oT, o).fma(c0, a00).intoArray(oT, o);
                FloatVector.fromArray(F, oT, o + L).fma(c1, a01).intoArray(oT, o + L);
                FloatVector.fromArray(F, oT, o + rp).fma(c0, a10).intoArray(oT, o + rp);
                FloatVector.fromArray(F, oT, o + rp + L).fma(c1, a11).intoArray(oT, o + rp + L);
                FloatVector.fromArray(F, oT, o + 2 * rp).fma(c0, a20).intoArray(oT, o + 2 * rp);
                FloatVector.fromArray(F, oT, o + 2 * rp + L).fma(c1, a21).intoArray(oT, o + 2 * rp + L);
                FloatVector.fromArray(F, oT, o + 3 * rp).fma(c0, a30).intoArray(oT, o + 3 * rp);
                FloatVector.fromArray(F, oT, o + 3 * rp + L).fma(c1, a31).intoArray(oT, o + 3 * rp + L);
                if (V4) {
                    FloatVector c2 = FloatVector.fromArray(F, corr, r + 2 * L);
                    FloatVector c3 = FloatVector.fromArray(F, corr, r + 3 * L);
                    int o2 = o + 2 * L;
                    int o3 = o + 3 * L;
                    FloatVector.fromArray(F, oT, o2).fma(c2, a02).intoArray(oT, o2);
                    FloatVector.fromArray(F, oT, o3).fma(c3, a03).intoArray(oT, o3);
                    FloatVector.fromArray(F, oT, o2 + rp).fma(c2, a12).intoArray(oT, o2 + rp);
                    FloatVector.fromArray(F, oT, o3 + rp).fma(c3, a13).intoArray(oT, o3 + rp);
                    FloatVector.fromArray(F, oT, o2 + 2 * rp).fma(c2, a22).intoArray(oT, o2 + 2 * rp);
                    FloatVector.fromArray(F, oT, o3 + 2 * rp).fma(c3, a23).intoArray(oT, o3 + 2 * rp);
                    FloatVector.fromArray(F, oT, o2 + 3 * rp).fma(c2, a32).intoArray(oT, o2 + 3 * rp);
                    FloatVector.fromArray(F, oT, o3 + 3 * rp).fma(c3, a33).intoArray(oT, o3 + 3 * rp);
                }
            }
        }
        accumulateTail(w, nc, e);
    }

    /** Dims {@code [e, d)}, the {@code d % 4} tail, one at a time. */
    private void accumulateTail(Worker w, int nc, int e) {
        float[] st = w.st;
        float[] vb = vPack;
        float[] oT = w.oT;
        float[] corr = w.corr;
        int rp = rowsPadded;
        int dd = d;
        for (; e < dd; e++) {
            for (int r = 0; r < rp; r += L) {
                FloatVector a = FloatVector.zero(F);
                for (int c = 0; c < nc; c++) {
                    FloatVector b = FloatVector.broadcast(F, vb[w.panel + c * dd + e]);
                    a = FloatVector.fromArray(F, st, c * rp + r).fma(b, a);
                }
                int o = e * rp + r;
                FloatVector.fromArray(F, oT, o).fma(FloatVector.fromArray(F, corr, r), a).intoArray(oT, o);
            }
        }
    }

    /** {@code out = Õ / l} for the tile's real rows (zeros where {@code l = 0}: the row saw no key). */
    private void store(Worker w, int qTok, int kvHead, int np) {
        int rp = rowsPadded;
        float[] oT = w.oT;
        for (int p = 0; p < np; p++) {
            for (int hh = 0; hh < g; hh++) {
                int r = p * g + hh;
                int h = kvHead * g + hh;
                float l = w.l[r];
                float inv = l == 0f ? 0f : 1f / l;
                if (out.dtype() == DType.F32) {
                    long at = out.at(qTok + p, h);
                    MemorySegment seg = out.segment();
                    for (int e = 0; e < d; e++) {
                        seg.set(F32, at + 4L * e, oT[e * rp + r] * inv);
                    }
                } else {
                    for (int e = 0; e < d; e++) {
                        out.set(qTok + p, h, e, oT[e * rp + r] * inv);
                    }
                }
            }
        }
    }

    /** Rows (heads × positions) per tile at head dim {@code d}: see {@link #QT_FLOATS}. */
    static int rowsFor(int d) {
        return Math.max(64, Math.min(128, QT_FLOATS / d));
    }

    static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }

    static int ceilDiv(int n, int m) {
        return (n + m - 1) / m;
    }
}
