package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F16;
import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.LE;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * One layer's KIVI cache (papers.md §5) for {@code sequences × kvHeads} tiles: keys quantized per channel over groups
 * of {@code G} tokens, values per token over groups of {@code G} channels, each with an F32 scale and zero per group,
 * and full-precision (F32 or F16) residual windows: keys of the last {@code L mod R} tokens (quantized as one chunk
 * of {@code R/G} groups when the window fills), values of the last {@code min(L, R)} tokens (the oldest single token
 * quantized when the window would exceed {@code R}).
 *
 * <p>Storage, per tile {@code t = seq·kvHeads + kvHead}, capacity {@code C} tokens (a multiple of {@code R}):
 * <ul>
 * <li>key codes (I32 words): {@code [t][C/G groups][d channels][G·B/32 words]}: tokens innermost within a
 * (channel, group), as in KIVI, and a whole group's channels contiguous, so one group is one sequential read;</li>
 * <li>key scales and zeros (F32): {@code [t][C/G][d]};</li>
 * <li>value codes (I32 words): {@code [t][C][d·B/32]}, channels innermost; value scales and zeros {@code [t][C][d/G]};</li>
 * <li>residual keys {@code [t][R][d]}, slot {@code token − quantizedKeys}; residual values {@code [t][R][d]}, slot
 * {@code token mod R} (a ring: the slot freed by the oldest token is the new token's).</li>
 * </ul>
 * Inputs are rounded to the residual precision before anything else, so quantizing from the residual window (token
 * by token) and from the inputs (bulk {@link #prefill}) see the same floats and write the same bits.
 *
 * <p>The decode inner loop ({@link #accumulate}) fuses dequantisation with KIVI's factorisation: a key group's scores
 * are {@code Σ_c (q_c·s_c)·code_{c,t} + Σ_c q_c·z_c}, with {@code q·s} and {@code q·z} formed once per group; values
 * are dequantized once per token and channel chunk ({@code code·s + z}) and shared by the rows. Blocks of up to
 * {@link #STAGE_GROUPS} groups are first bulk-copied into the worker's scratch, then {@link KiviFold} unpacks them
 * with one word broadcast, a variable shift and a mask per {@code L} codes, each unpacked vector feeding the
 * {@code g} query rows of the GQA group. Appends are single-threaded per cache; {@link #accumulate} may run
 * concurrently on distinct states.
 */
public final class KiviCache implements DecodeKv, AutoCloseable {
    /** Where the cache's memory comes from (a later issue moves it into Arrow memory). */
    @FunctionalInterface
    public interface Storage {
        Buffer allocate(String name, DType dtype, long count);
    }

    /** Native memory from {@link Buffers#allocate}. */
    public static final Storage NATIVE = Buffers::allocate;

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final ValueLayout.OfInt WORD = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfLong WORD_PAIR = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LE);
    /** Per worker thread: the staged words as longs, where the fold reads a chunk's two words as one (pairs). */
    private static final ThreadLocal<long[]> PAIR_WORDS = ThreadLocal.withInitial(() -> new long[0]);

    private final KiviLayout layout;
    private final int sequences;
    private final int kvHeads;
    private final int d;
    private final int capacity;
    private final boolean f16;
    private final int G;
    private final int R;
    private final int B;
    private final int levels;
    private final int perWord;
    private final int groupWords;
    private final int valueWords;
    private final int valueGroups;
    private final Buffer keyCodes;
    private final Buffer keyScale;
    private final Buffer keyZero;
    private final Buffer valueCodes;
    private final Buffer valueScale;
    private final Buffer valueZero;
    private final Buffer keyResidual;
    private final Buffer valueResidual;
    private final int[] lengths;
    /** The fused decode loop on staged groups. */
    private final KiviFold fold;
    /**
     * The Vector API paths need whole vectors of tokens per group and of channels per head ({@code G} and {@code d}
     * multiples of {@code L}); otherwise appends and the decode loop take the scalar paths (same codes, same math).
     */
    private final boolean vectorOk;
    // Append scratch (appends are single-threaded).
    private final float[] window;
    private final int[] codes;
    private final float[] sz;

    public KiviCache(KiviLayout layout, int sequences, int kvHeads, int d, int capacity, KvPrecision residual,
            Storage storage) {
        KiviLayout.check(layout.bits(), layout.group(), layout.residual(), d);
        if (residual != KvPrecision.F32 && residual != KvPrecision.F16) {
            throw new IllegalArgumentException("kivi: the residual window is F32 or F16, got " + residual);
        }
        if (sequences < 1 || kvHeads < 1 || capacity < 1) {
            throw new IllegalArgumentException("kivi: sequences, kvHeads and capacity must be >= 1");
        }
        this.layout = layout;
        this.sequences = sequences;
        this.kvHeads = kvHeads;
        this.d = d;
        this.G = layout.group();
        this.R = layout.residual();
        this.B = layout.bits();
        this.capacity = (capacity + R - 1) / R * R;
        this.f16 = residual == KvPrecision.F16;
        this.levels = layout.levels();
        this.perWord = layout.perWord();
        this.groupWords = G * B / 32;
        this.valueWords = d * B / 32;
        this.valueGroups = d / G;
        long tiles = (long) sequences * kvHeads;
        DType rd = f16 ? DType.F16 : DType.F32;
        // L words of padding after the codes (part of the buffers' sizes that device transfers and saved caches use).
        keyCodes = storage.allocate("kivi.keyCodes", DType.I32, tiles * (this.capacity / G) * d * groupWords + L);
        keyScale = storage.allocate("kivi.keyScale", DType.F32, tiles * (this.capacity / G) * d);
        keyZero = storage.allocate("kivi.keyZero", DType.F32, tiles * (this.capacity / G) * d);
        valueCodes = storage.allocate("kivi.valueCodes", DType.I32, tiles * this.capacity * valueWords + L);
        valueScale = storage.allocate("kivi.valueScale", DType.F32, tiles * this.capacity * valueGroups);
        valueZero = storage.allocate("kivi.valueZero", DType.F32, tiles * this.capacity * valueGroups);
        keyResidual = storage.allocate("kivi.keyResidual", rd, tiles * R * d);
        valueResidual = storage.allocate("kivi.valueResidual", rd, tiles * R * d);
        lengths = new int[sequences];
        fold = new KiviFold(B, G, d);
        vectorOk = G % L == 0 && d % L == 0;
        window = new float[R * d];
        codes = new int[Math.max(R, G) * Math.max(d, L)];
        sz = new float[2 * Math.max(d, L)];
    }

    public KiviCache(KiviLayout layout, int sequences, int kvHeads, int d, int capacity, KvPrecision residual) {
        this(layout, sequences, kvHeads, d, capacity, residual, NATIVE);
    }

    public KiviLayout layout() {
        return layout;
    }

    public int capacity() {
        return capacity;
    }

    public KvPrecision residualPrecision() {
        return f16 ? KvPrecision.F16 : KvPrecision.F32;
    }

    // The buffers, in the layouts of the class comment, for device kernels and tests.

    public Buffer keyCodes() {
        return keyCodes;
    }

    public Buffer keyScale() {
        return keyScale;
    }

    public Buffer keyZero() {
        return keyZero;
    }

    public Buffer valueCodes() {
        return valueCodes;
    }

    public Buffer valueScale() {
        return valueScale;
    }

    public Buffer valueZero() {
        return valueZero;
    }

    public Buffer keyResidual() {
        return keyResidual;
    }

    public Buffer valueResidual() {
        return valueResidual;
    }

    /** Every buffer, in a fixed order (for bit-identity checks and device transfers). */
    public Buffer[] buffers() {
        return new Buffer[] {keyCodes, keyScale, keyZero, valueCodes, valueScale, valueZero, keyResidual,
            valueResidual};
    }

    /** Sets a sequence's length after a device kernel appended to its buffers. */
    public void setLength(int seq, int length) {
        if (length < 0 || length > capacity) {
            throw new IllegalArgumentException("kivi: length " + length + " outside [0, " + capacity + "]");
        }
        lengths[seq] = length;
    }

    @Override
    public int sequences() {
        return sequences;
    }

    @Override
    public int kvHeads() {
        return kvHeads;
    }

    @Override
    public int headDim() {
        return d;
    }

    @Override
    public int length(int seq) {
        return lengths[seq];
    }

    @Override
    public int blockAlign() {
        return G;
    }

    @Override
    public String describe() {
        return "int" + B + "-kivi-g" + G + "-r" + R + (f16 ? "-f16res" : "-f32res");
    }

    @Override
    public double bytesPerToken() {
        return layout.precision().bytesPerToken(kvHeads, d, G, R);
    }

    @Override
    public void close() {
        for (Buffer b : buffers()) {
            b.close();
        }
    }

    // ---- addressing -------------------------------------------------------------------------------------------

    private long keyCodeByte(int tile, int grp, int c) {
        return (((long) tile * (capacity / G) + grp) * d + c) * groupWords * 4L;
    }

    private long keySz(int tile, int grp) {
        return ((long) tile * (capacity / G) + grp) * d;
    }

    private long valueCodeByte(int tile, int t) {
        return ((long) tile * capacity + t) * valueWords * 4L;
    }

    private long valueSz(int tile, int t) {
        return ((long) tile * capacity + t) * valueGroups;
    }

    private long residualByte(int tile, int slot) {
        return ((long) tile * R + slot) * d * (f16 ? 2L : 4L);
    }

    private float round(float x) {
        return f16 ? Float.float16ToFloat(Float.floatToFloat16(x)) : x;
    }

    // ---- appends ----------------------------------------------------------------------------------------------

    /** Appends token {@code src} of {@code k} and {@code v} (all KV heads) to sequence {@code seq}: Vector API path. */
    public void append(int seq, HeadView k, HeadView v, long src) {
        append(seq, k, v, src, vectorOk);
    }

    /** The scalar reference of {@link #append}: the same bits. */
    public void appendReference(int seq, HeadView k, HeadView v, long src) {
        append(seq, k, v, src, false);
    }

    private void append(int seq, HeadView k, HeadView v, long src, boolean vector) {
        int len = lengths[seq];
        if (len >= capacity) {
            throw new IllegalStateException("kivi: sequence " + seq + " is full (" + capacity + " tokens)");
        }
        MemorySegment kr = keyResidual.segment();
        MemorySegment vr = valueResidual.segment();
        int kq = layout.quantizedKeys(len);
        int vq = layout.quantizedValues(len);
        for (int h = 0; h < kvHeads; h++) {
            int tile = seq * kvHeads + h;
            if (len - vq == R) {
                // The value window is full: the oldest token leaves it, quantized, and frees its ring slot.
                ResidualFold.load(vr, residualByte(tile, vq % R), f16, d, window, 0);
                quantizeValueToken(tile, vq, window, vector);
            }
            for (int e = 0; e < d; e++) {
                setResidual(vr, residualByte(tile, len % R), e, v.get(src, h, e));
                setResidual(kr, residualByte(tile, len - kq), e, k.get(src, h, e));
            }
            if (len + 1 - kq == R) {
                for (int s = 0; s < R; s++) {
                    ResidualFold.load(kr, residualByte(tile, s), f16, d, window, s * d);
                }
                quantizeKeyWindow(tile, kq / G, R, vector);
                // KIVI clears the window; zeros also keep the bits identical to a bulk prefill's.
                kr.asSlice(residualByte(tile, 0), residualByte(tile, R) - residualByte(tile, 0)).fill((byte) 0);
            }
        }
        lengths[seq] = len + 1;
    }

    private void setResidual(MemorySegment seg, long rowByte, int e, float x) {
        if (f16) {
            seg.set(F16, rowByte + 2L * e, Float.floatToFloat16(x));
        } else {
            seg.set(F32, rowByte + 4L * e, x);
        }
    }

    /**
     * Bulk prefill of {@code n} tokens {@code k, v[0 … n)} into the empty sequence {@code seq}, as KIVI's prefill: keys
     * of whole windows quantized, the rest in the key window; values of all but the last {@code R} quantized.
     */
    public void prefill(int seq, HeadView k, HeadView v, int n) {
        prefill(seq, k, v, n, vectorOk);
    }

    /** The scalar reference of {@link #prefill}: the same bits. */
    public void prefillReference(int seq, HeadView k, HeadView v, int n) {
        prefill(seq, k, v, n, false);
    }

    private void prefill(int seq, HeadView k, HeadView v, int n, boolean vector) {
        if (lengths[seq] != 0) {
            throw new IllegalStateException("kivi: prefill needs an empty sequence; " + seq + " has "
                    + lengths[seq] + " tokens");
        }
        if (n > capacity) {
            throw new IllegalArgumentException("kivi: " + n + " tokens exceed the capacity " + capacity);
        }
        int kq = layout.quantizedKeys(n);
        int vq = layout.quantizedValues(n);
        MemorySegment kr = keyResidual.segment();
        MemorySegment vr = valueResidual.segment();
        for (int h = 0; h < kvHeads; h++) {
            int tile = seq * kvHeads + h;
            for (int w = 0; w < kq; w += R) {
                for (int s = 0; s < R; s++) {
                    for (int e = 0; e < d; e++) {
                        window[s * d + e] = round(k.get(w + s, h, e));
                    }
                }
                quantizeKeyWindow(tile, w / G, R, vector);
            }
            for (int t = kq; t < n; t++) {
                for (int e = 0; e < d; e++) {
                    setResidual(kr, residualByte(tile, t - kq), e, k.get(t, h, e));
                }
            }
            for (int t = 0; t < n; t++) {
                if (t < vq) {
                    for (int e = 0; e < d; e++) {
                        window[e] = round(v.get(t, h, e));
                    }
                    quantizeValueToken(tile, t, window, vector);
                } else {
                    for (int e = 0; e < d; e++) {
                        setResidual(vr, residualByte(tile, t % R), e, v.get(t, h, e));
                    }
                }
            }
        }
        lengths[seq] = n;
    }

    /** Quantizes the {@code tokens} keys in {@link #window} ({@code [tokens][d]}) into groups from {@code grp0}. */
    private void quantizeKeyWindow(int tile, int grp0, int tokens, boolean vector) {
        MemorySegment kc = keyCodes.segment();
        MemorySegment ks = keyScale.segment();
        MemorySegment kz = keyZero.segment();
        for (int j = 0; j < tokens / G; j++) {
            int base = j * G * d;
            long szAt = keySz(tile, grp0 + j);
            if (vector) {
                for (int c0 = 0; c0 < d; c0 += L) {
                    // Lanes are L channels; codes[i·L + lane] is token i of channel c0 + lane.
                    KiviQuantizer.quantizeLanes(window, base + c0, d, G, levels, codes, 0, sz, 0, sz, L);
                    for (int lane = 0; lane < L; lane++) {
                        pack(codes, lane, L, kc, keyCodeByte(tile, grp0 + j, c0 + lane));
                        ks.set(F32, 4 * (szAt + c0 + lane), sz[lane]);
                        kz.set(F32, 4 * (szAt + c0 + lane), sz[L + lane]);
                    }
                }
            } else {
                for (int c = 0; c < d; c++) {
                    KiviQuantizer.quantizeGroup(window, base + c, d, G, levels, codes, 0, sz, 0);
                    pack(codes, 0, 1, kc, keyCodeByte(tile, grp0 + j, c));
                    ks.set(F32, 4 * (szAt + c), sz[0]);
                    kz.set(F32, 4 * (szAt + c), sz[1]);
                }
            }
        }
    }

    /** Quantizes one token's values {@code x[0 … d)} into token {@code t}'s codes, scales and zeros. */
    private void quantizeValueToken(int tile, int t, float[] x, boolean vector) {
        MemorySegment vc = valueCodes.segment();
        long szAt = valueSz(tile, t);
        for (int cg = 0; cg < valueGroups; cg++) {
            if (vector) {
                KiviQuantizer.quantizeRun(x, cg * G, G, levels, codes, 0, sz, 0);
            } else {
                KiviQuantizer.quantizeGroup(x, cg * G, 1, G, levels, codes, 0, sz, 0);
            }
            pack(codes, 0, 1, vc, valueCodeByte(tile, t) + (long) cg * groupWords * 4);
            valueScale.segment().set(F32, 4 * (szAt + cg), sz[0]);
            valueZero.segment().set(F32, 4 * (szAt + cg), sz[1]);
        }
    }

    /** Packs the {@code G} codes {@code codes[off + i·stride]} into {@code G·B/32} words at byte {@code at}. */
    private void pack(int[] c, int off, int stride, MemorySegment seg, long at) {
        for (int w = 0; w < groupWords; w++) {
            int word = 0;
            for (int j = 0; j < perWord; j++) {
                word |= c[off + (w * perWord + j) * stride] << (j * B);
            }
            seg.set(WORD, at + 4L * w, word);
        }
    }

    // ---- reading back -----------------------------------------------------------------------------------------

    /**
     * What the cache holds for {@code (seq, kvHead)}, dequantized: {@code k, v[t·d + e]} for every cached token (the
     * quantized tokens as {@code code·s + z}, the residual ones as stored). The reference the fused loop is held to.
     */
    public void dequantize(int seq, int kvHead, float[] k, float[] v) {
        int len = lengths[seq];
        int tile = seq * kvHeads + kvHead;
        int kq = layout.quantizedKeys(len);
        int vq = layout.quantizedValues(len);
        MemorySegment kc = keyCodes.segment();
        MemorySegment vc = valueCodes.segment();
        for (int t = 0; t < len; t++) {
            if (t < kq) {
                long szAt = keySz(tile, t / G);
                for (int c = 0; c < d; c++) {
                    int code = unpack(kc, keyCodeByte(tile, t / G, c), t % G);
                    k[t * d + c] = KiviQuantizer.dequantize(code, keyScale.segment().get(F32, 4 * (szAt + c)),
                            keyZero.segment().get(F32, 4 * (szAt + c)));
                }
            } else {
                ResidualFold.load(keyResidual.segment(), residualByte(tile, t - kq), f16, d, k, t * d);
            }
            if (t < vq) {
                long szAt = valueSz(tile, t);
                for (int e = 0; e < d; e++) {
                    int code = unpack(vc, valueCodeByte(tile, t), e);
                    v[t * d + e] = KiviQuantizer.dequantize(code, valueScale.segment().get(F32, 4 * (szAt + e / G)),
                            valueZero.segment().get(F32, 4 * (szAt + e / G)));
                }
            } else {
                ResidualFold.load(valueResidual.segment(), residualByte(tile, t % R), f16, d, v, t * d);
            }
        }
    }

    private int unpack(MemorySegment seg, long at, int j) {
        return (seg.get(WORD, at + 4L * (j / perWord)) >>> ((j % perWord) * B)) & levels;
    }

    // ---- the fused decode loop --------------------------------------------------------------------------------

    /**
     * Groups staged per bulk copy: a copy has a fixed cost of the order of a hundred nanoseconds, as much as moving a
     * whole INT4 group, and 8 groups (256 tokens, 40 KB of scratch in INT4) stay in L1/L2.
     */
    static final int STAGE_GROUPS = 8;

    @Override
    public int scratchFloats(int tokens, int g) {
        int m = stageGroups(tokens);
        // fold work (scores, q·s, q·z), the staged key and value groups, one row [d]
        return fold.workFloats(g, m) + fold.keyStage(m) + fold.valueStage(m) + d;
    }

    private int stageGroups(int tokens) {
        return Math.max(1, Math.min(STAGE_GROUPS, (tokens + G - 1) / G));
    }

    @Override
    public void accumulate(int seq, int kvHead, int from, int to, float[] q, int qOff, int g, float[] st, int stOff,
            float[] scratch) {
        int len = lengths[seq];
        if (from < 0 || to > len || from > to || (from % G != 0 && from != len)) {
            throw new IllegalArgumentException("kivi: range [" + from + ", " + to + ") of " + len
                    + " must start on a group of " + G);
        }
        int tile = seq * kvHeads + kvHead;
        int kq = layout.quantizedKeys(len);
        int vq = layout.quantizedValues(len);
        int m = stageGroups(to - from);
        int stride = m * G;
        int sc = 0;
        int qs = sc + g * stride;
        int qz = qs + g * d;
        int ks = fold.workFloats(g, m);
        int kScale = ks + m * d * groupWords + L;
        int kZero = kScale + m * d;
        int vs = ks + fold.keyStage(m);
        int vScale = vs + m * G * valueWords + L;
        int vZero = vScale + m * G * valueGroups;
        int row = vs + fold.valueStage(m);
        // Where the fold reads words in pairs they are staged as longs, at half the scratch indices.
        long[] pairWords = fold.pairs ? PAIR_WORDS.get() : null;
        if (fold.pairs && pairWords.length < row / 2) {
            pairWords = new long[row / 2];
            PAIR_WORDS.set(pairWords);
        }
        for (int b0 = from; b0 < to; b0 += m * G) {
            int b1 = Math.min(to, b0 + m * G);
            // The block's quantized keys (whole groups) and values, staged by six bulk copies.
            int kEnd = vectorOk ? Math.max(b0, Math.min(b1, kq)) : b0;
            int vEnd = vectorOk ? Math.max(b0, Math.min(b1, vq)) : b0;
            stageKeys(tile, b0 / G, (kEnd - b0) / G, scratch, pairWords, ks, kScale, kZero);
            stageValues(tile, b0, vEnd - b0, scratch, pairWords, vs, vScale, vZero);
            // Every group's scores first (row r's at sc + r·stride, in token order), one softmax step per row for the
            // block, then the values.
            for (int t0 = b0; t0 < b1; t0 += G) {
                int n = Math.min(G, b1 - t0);
                int j = (t0 - b0) / G;
                int scj = sc + j * G;
                if (t0 + n <= kEnd) {
                    fold.keyScores(scratch, pairWords, ks + j * d * groupWords, kScale + j * d, kZero + j * d, q,
                            qOff, g, scj, stride, qs, qz);
                } else {
                    for (int i = 0; i < n; i++) {
                        scoreToken(tile, t0 + i, kq, q, qOff, g, scratch, scj + i, stride, row);
                    }
                }
            }
            for (int r = 0; r < g; r++) {
                OnlineSoftmaxBlock.update(scratch, sc + r * stride, b1 - b0, st, stOff + r * (d + 2), d);
            }
            for (int t0 = b0; t0 < b1; t0 += G) {
                int n = Math.min(G, b1 - t0);
                int scj = sc + (t0 - b0);
                int tq = Math.min(t0 + n, Math.max(vEnd, t0));
                if (tq > t0) {
                    int at = (t0 - b0) * valueWords;
                    int sz = (t0 - b0) * valueGroups;
                    fold.valueFold(scratch, pairWords, vs + at, vScale + sz, vZero + sz, tq - t0, g, st, stOff, scj,
                            stride);
                }
                for (int t = tq; t < t0 + n; t++) {
                    valueToken(tile, t, vq, g, st, stOff, scratch, scj + (t - t0), stride, row);
                }
            }
        }
    }

    /**
     * Key groups {@code [grp, grp + m)} into scratch: words (into {@code pairWords} at half the index where the fold
     * reads pairs), scales and zeros, one bulk copy each (raw bits).
     */
    private void stageKeys(int tile, int grp, int m, float[] dst, long[] pairWords, int words, int scale, int zero) {
        if (m == 0) {
            return;
        }
        if (fold.pairs) {
            MemorySegment.copy(keyCodes.segment(), WORD_PAIR, keyCodeByte(tile, grp, 0), pairWords, words / 2,
                    m * d * groupWords / 2);
        } else {
            MemorySegment.copy(keyCodes.segment(), F32, keyCodeByte(tile, grp, 0), dst, words, m * d * groupWords);
        }
        MemorySegment.copy(keyScale.segment(), F32, 4 * keySz(tile, grp), dst, scale, m * d);
        MemorySegment.copy(keyZero.segment(), F32, 4 * keySz(tile, grp), dst, zero, m * d);
    }

    /** Value tokens {@code [t0, t0 + n)} into scratch, as {@link #stageKeys} stages keys. */
    private void stageValues(int tile, int t0, int n, float[] dst, long[] pairWords, int words, int scale, int zero) {
        if (n == 0) {
            return;
        }
        if (fold.pairs) {
            MemorySegment.copy(valueCodes.segment(), WORD_PAIR, valueCodeByte(tile, t0), pairWords, words / 2,
                    n * valueWords / 2);
        } else {
            MemorySegment.copy(valueCodes.segment(), F32, valueCodeByte(tile, t0), dst, words, n * valueWords);
        }
        MemorySegment.copy(valueScale.segment(), F32, 4 * valueSz(tile, t0), dst, scale, n * valueGroups);
        MemorySegment.copy(valueZero.segment(), F32, 4 * valueSz(tile, t0), dst, zero, n * valueGroups);
    }

    /** One token's scores for the {@code g} rows, from its dequantized or residual key (tails and fallbacks). */
    private void scoreToken(int tile, int t, int kq, float[] q, int qOff, int g, float[] scratch, int out, int stride,
            int row) {
        if (t < kq) {
            long szAt = keySz(tile, t / G);
            for (int c = 0; c < d; c++) {
                int code = unpack(keyCodes.segment(), keyCodeByte(tile, t / G, c), t % G);
                scratch[row + c] = KiviQuantizer.dequantize(code, keyScale.segment().get(F32, 4 * (szAt + c)),
                        keyZero.segment().get(F32, 4 * (szAt + c)));
            }
        } else {
            ResidualFold.load(keyResidual.segment(), residualByte(tile, t - kq), f16, d, scratch, row);
        }
        ResidualFold.scores(scratch, row, d, q, qOff, g, scratch, out, stride);
    }

    /** One token's value, dequantized or residual, weighted into the {@code g} states (tails and fallbacks). */
    private void valueToken(int tile, int t, int vq, int g, float[] st, int stOff, float[] scratch, int p, int stride,
            int row) {
        if (t < vq) {
            long szAt = valueSz(tile, t);
            for (int e = 0; e < d; e++) {
                int code = unpack(valueCodes.segment(), valueCodeByte(tile, t), e);
                scratch[row + e] = KiviQuantizer.dequantize(code, valueScale.segment().get(F32, 4 * (szAt + e / G)),
                        valueZero.segment().get(F32, 4 * (szAt + e / G)));
            }
        } else {
            ResidualFold.load(valueResidual.segment(), residualByte(tile, t % R), f16, d, scratch, row);
        }
        ResidualFold.values(scratch, row, d, scratch, p, stride, g, st, stOff);
    }
}
