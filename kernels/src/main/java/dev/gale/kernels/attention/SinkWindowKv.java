package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F16;
import static dev.gale.kernels.Operands.F32;
import static dev.gale.kernels.Operands.ORDER;

import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.activation.VectorMath;
import dev.gale.kernels.rope.Rope;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * A StreamingLLM KV cache (papers.md §6) for a batch of sequences: per (sequence, KV head) {@code S + W} slots of
 * {@code d} elements, F32 or F16, head-major {@code [seq][kvHead][S + W][d]} for keys and values alike; each
 * sequence's slots are addressed by its {@link SinkWindow}.
 *
 * <p>Keys are cached <em>before</em> RoPE. Every decode step rotates them on the fly, inside the score loop, by
 * their position in the cache (logical index {@code 0 … n−1}), and the query by {@code n − 1}: the eviction of a
 * window token shifts every later key's position by one, which a cache of rotated keys could not follow. Rotation
 * reads the precomputed cos/sin of a {@link RopeTable} (covering at least {@code S + W} positions, any
 * {@link RopeLayout}); no trigonometry per token. A table of {@code null} caches keys as they are used (a model
 * without RoPE, or keys already rotated): the same loop minus the rotation, which is what the benchmark compares.
 *
 * <p>Implements {@link DecodeKv}: {@link #accumulate} takes the query rows un-rotated (scaled), rotates them into its
 * scratch at {@code n − 1}, and folds logical range {@code [from, to)} block by block. Each key is read from its slot,
 * widened to F32 and rotated into {@code d} floats of scratch (the logical cache is never materialised), dotted with
 * the {@code g} query rows; a block of scores updates the states once (FA2 incremental form, papers.md §0), then the
 * block's values are staged the same way (at most {@code 64·d} floats, L1-resident) and each accumulator vector takes
 * the block's weighted sum in registers.
 */
public final class SinkWindowKv implements DecodeKv {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** Shorts at half the int width: one load widens into exactly one int vector. */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class,
            VectorShape.forBitSize(I.vectorBitSize() / 2));
    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);
    /** Sign, exponent and mantissa bits of a sign-extended F16 shifted left by 13. */
    private static final int SIGN_EXP_MANT = 0x8fffe000;
    /** 2^(127 − 15): rebiases the exponent (and makes F16 subnormals normal F32 values, exactly). */
    private static final float REBIAS = 0x1p112f;
    /** Keys per score block: scores of a block stay in L1 and the states are rescaled once per block. */
    static final int BLOCK = 64;
    /** Positions a decode step folds per tile before the next tile's turn: 128 KiB of adjacent-pair cos/sin at d 128. */
    static final int POSITION_BLOCK = 128;

    private final int sequences;
    private final int kvHeads;
    private final int d;
    private final DType dtype;
    private final SinkWindow[] windows;
    private final MemorySegment keys;
    private final MemorySegment values;
    private final RopeTable rope;
    private final boolean halfSplit;
    /** The table's cos/sin in its own layout (see RopeTable): {@code perPos} floats per position. */
    private final float[] cos;
    private final float[] sin;
    private final int perPos;
    private final ThreadLocal<float[]> decodeScratch = new ThreadLocal<>();

    /**
     * A cache over caller-owned storage (for example device buffers shared with the host).
     *
     * @param keys   {@code sequences · kvHeads · (sinks + window) · headDim} elements of {@code dtype}
     * @param values as many
     * @param rope   cos/sin for at least {@code sinks + window} positions of {@code headDim}, or null for none
     */
    public SinkWindowKv(int sequences, int kvHeads, int headDim, int sinks, int window, DType dtype,
            MemorySegment keys, MemorySegment values, RopeTable rope) {
        if (sequences < 1 || kvHeads < 1 || headDim < 2 || headDim % 2 != 0) {
            throw new IllegalArgumentException("sink cache: need sequences, kvHeads >= 1 and an even headDim >= 2; "
                    + "got " + sequences + ", " + kvHeads + ", " + headDim);
        }
        if (dtype != DType.F32 && dtype != DType.F16) {
            throw new IllegalArgumentException("sink cache: F32 or F16, got " + dtype);
        }
        this.sequences = sequences;
        this.kvHeads = kvHeads;
        this.d = headDim;
        this.dtype = dtype;
        this.windows = new SinkWindow[sequences];
        for (int s = 0; s < sequences; s++) {
            windows[s] = new SinkWindow(sinks, window);
        }
        long bytes = (long) sequences * kvHeads * (sinks + window) * headDim * (dtype == DType.F16 ? 2 : 4);
        if (keys.byteSize() < bytes || values.byteSize() < bytes) {
            throw new IllegalArgumentException("sink cache: keys and values need " + bytes + " bytes each");
        }
        this.keys = keys;
        this.values = values;
        this.rope = rope;
        if (rope != null && (rope.headDim() != headDim || rope.maxPositions() < sinks + window)) {
            throw new IllegalArgumentException("sink cache: the RoPE table (" + rope.maxPositions() + " positions, d "
                    + rope.headDim() + ") must cover " + (sinks + window) + " positions of d " + headDim);
        }
        this.halfSplit = rope != null && rope.layout() == RopeLayout.HALF_SPLIT;
        int cap = sinks + window;
        this.perPos = halfSplit ? headDim / 2 : headDim;
        this.cos = new float[rope == null ? 0 : cap * perPos];
        this.sin = new float[cos.length];
        if (rope != null) {
            // RopeTable's layout, read through its accessors: half split per pair; adjacent pairs per element, with
            // the sine signed (−sin on the even element) so a rotation is x·cos + swap(x)·sin.
            for (int p = 0; p < cap; p++) {
                for (int i = 0; i < headDim / 2; i++) {
                    float c = rope.cos(p, i);
                    float s = rope.sin(p, i);
                    if (halfSplit) {
                        cos[p * perPos + i] = c;
                        sin[p * perPos + i] = s;
                    } else {
                        cos[p * perPos + 2 * i] = c;
                        cos[p * perPos + 2 * i + 1] = c;
                        sin[p * perPos + 2 * i] = -s;
                        sin[p * perPos + 2 * i + 1] = s;
                    }
                }
            }
        }
    }

    /** A cache with its own zeroed storage (a GC-managed arena readable from every thread). */
    public static SinkWindowKv allocate(int sequences, int kvHeads, int headDim, int sinks, int window, DType dtype,
            RopeTable rope) {
        long bytes = (long) sequences * kvHeads * (sinks + window) * headDim * (dtype == DType.F16 ? 2 : 4);
        Arena arena = Arena.ofAuto();
        return new SinkWindowKv(sequences, kvHeads, headDim, sinks, window, dtype, arena.allocate(bytes, 64),
                arena.allocate(bytes, 64), rope);
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
        return windows[seq].length();
    }

    /** The addressing of sequence {@code seq}. */
    public SinkWindow window(int seq) {
        return windows[seq];
    }

    public DType dtype() {
        return dtype;
    }

    /** The RoPE table, or null. */
    public RopeTable rope() {
        return rope;
    }

    /** Slots per (sequence, KV head). */
    public int capacity() {
        return windows[0].capacity();
    }

    public MemorySegment keys() {
        return keys;
    }

    public MemorySegment values() {
        return values;
    }

    /** Keys as a head view: "head" {@code seq · kvHeads + kvHead}, "token" the slot. */
    public HeadView keyView() {
        return HeadView.headMajor(keys, 0, dtype, capacity(), d);
    }

    public HeadView valueView() {
        return HeadView.headMajor(values, 0, dtype, capacity(), d);
    }

    /**
     * Appends one token of sequence {@code seq}: its un-rotated keys and its values, {@code [kvHeads][d]} F32 at
     * the given byte offsets (rounded to F16 for an F16 cache), into the slot {@link SinkWindow#append} frees.
     *
     * @return the slot written
     */
    public int append(int seq, MemorySegment k, long kOff, MemorySegment v, long vOff) {
        int slot = windows[seq].append();
        HeadView kv = keyView();
        HeadView vv = valueView();
        for (int h = 0; h < kvHeads; h++) {
            int tile = seq * kvHeads + h;
            for (int e = 0; e < d; e++) {
                long at = 4L * ((long) h * d + e);
                kv.set(slot, tile, e, k.get(F32, kOff + at));
                vv.set(slot, tile, e, v.get(F32, vOff + at));
            }
        }
        return slot;
    }

    @Override
    public int scratchFloats(int tokens, int g) {
        return g * d + 2 * d + g * BLOCK + BLOCK * d;
    }

    @Override
    public String describe() {
        return (dtype == DType.F16 ? "f16" : "f32") + "-sinks" + windows[0].sinks() + "+" + windows[0].window()
                + (rope == null ? "" : halfSplit ? "-rope-neox" : "-rope");
    }

    @Override
    public double bytesPerToken() {
        return 2.0 * kvHeads * d * (dtype == DType.F16 ? 2 : 4);
    }

    /**
     * The scalar reference for sequence {@code seq}: materialises the logical cache (slots gathered in logical order,
     * widened to F32), rotates the keys at positions {@code 0 … n−1} and the query at {@code n − 1} with
     * {@link Rope#reference}, and runs {@link AttentionReference} (one query sees all {@code n} keys).
     *
     * @param q     the token's query {@code [Hq][d]} F32, un-rotated, at byte {@code qOff}
     * @param out   receives {@code [Hq][d]} F32 at byte {@code outOff}
     * @param scale if not null, receives each output element's error scale ({@link AttentionReference#attend})
     */
    public void reference(int seq, AttentionSpec spec, MemorySegment q, long qOff, MemorySegment out, long outOff,
            double[] scale) {
        requireSpec(spec);
        SinkWindow win = windows[seq];
        int n = win.length();
        int hq = spec.heads();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocate(Math.max(1L, (long) n * kvHeads * d * 4));
            MemorySegment v = arena.allocate(Math.max(1L, (long) n * kvHeads * d * 4));
            MemorySegment qr = arena.allocate((long) hq * d * 4);
            HeadView kc = keyView();
            HeadView vc = valueView();
            int[] positions = new int[n];
            for (int i = 0; i < n; i++) {
                positions[i] = i;
                int slot = win.slot(i);
                for (int h = 0; h < kvHeads; h++) {
                    for (int e = 0; e < d; e++) {
                        long at = 4L * (((long) i * kvHeads + h) * d + e);
                        k.set(F32, at, kc.get(slot, seq * kvHeads + h, e));
                        v.set(F32, at, vc.get(slot, seq * kvHeads + h, e));
                    }
                }
            }
            MemorySegment.copy(q, qOff, qr, 0, (long) hq * d * 4);
            if (rope != null && n > 0) {
                Rope.reference(rope, k, 0, n, kvHeads, positions);
                Rope.reference(rope, qr, 0, 1, hq, new int[] {n - 1});
            }
            AttentionSpec full = new AttentionSpec(hq, kvHeads, d, false, 0, spec.scale());
            AttentionReference.attend(full, HeadView.tokenMajor(qr, 0, hq, d), HeadView.tokenMajor(k, 0, kvHeads, d),
                    HeadView.tokenMajor(v, 0, kvHeads, d), HeadView.tokenMajor(out, outOff, hq, d), 1, n, null, 0,
                    null, scale);
        }
    }

    private void requireSpec(AttentionSpec spec) {
        if (spec.kvHeads() != kvHeads || spec.headDim() != d) {
            throw new IllegalArgumentException("sink cache: spec has " + spec.kvHeads() + " KV heads of d "
                    + spec.headDim() + ", the cache " + kvHeads + " of d " + d);
        }
    }

    /**
     * One decode step for every sequence, on the calling thread: each tile's {@code n} keys folded into one state per
     * query head, normalised into {@code out}. Allocation-free once this thread's scratch has grown.
     *
     * @param q   {@code [sequences][Hq][d]} F32 queries, un-rotated, at byte {@code qOff}
     * @param out {@code [sequences][Hq][d]} F32 at byte {@code outOff}
     */
    public void decode(AttentionSpec spec, MemorySegment q, long qOff, MemorySegment out, long outOff) {
        requireSpec(spec);
        decodeTiles(spec, q, qOff, out, outOff, 0, sequences * kvHeads);
    }

    /** {@link #decode} with the tiles split over {@link WorkerPool#shared()}. */
    public void decodeParallel(AttentionSpec spec, MemorySegment q, long qOff, MemorySegment out, long outOff) {
        requireSpec(spec);
        WorkerPool.shared().parallelFor(sequences * kvHeads, 1,
                (s, e) -> decodeTiles(spec, q, qOff, out, outOff, s, e));
    }

    /**
     * Tiles {@code [tileFrom, tileTo)}, interleaved by blocks of {@link #POSITION_BLOCK} positions: every tile of the
     * range folds positions {@code [b, b + POSITION_BLOCK)} before any moves on, so that block's cos/sin rows (up to
     * 128 KiB) are read from L2 by all of them instead of streaming the whole table once per tile.
     */
    private void decodeTiles(AttentionSpec spec, MemorySegment q, long qOff, MemorySegment out, long outOff,
            int tileFrom, int tileTo) {
        int g = spec.group();
        int stride = SoftmaxState.stride(d);
        int tiles = tileTo - tileFrom;
        int per = g * d + g * stride;
        int scratchOff = tiles * per;
        int need = scratchOff + scratchFloats(capacity(), g);
        float[] buf = decodeScratch.get();
        if (buf == null || buf.length < need) {
            buf = new float[need];
            decodeScratch.set(buf);
        }
        long rowBytes = 4L * d;
        int longest = 0;
        for (int t = 0; t < tiles; t++) {
            int tile = tileFrom + t;
            long q0 = qOff + ((long) (tile / kvHeads) * spec.heads() + (long) (tile % kvHeads) * g) * rowBytes;
            for (int i = 0; i < g * d; i++) {
                buf[t * per + i] = q.get(F32, q0 + 4L * i) * spec.scale();
            }
            SoftmaxState.reset(buf, t * per + g * d, g, d);
            longest = Math.max(longest, length(tile / kvHeads));
        }
        for (int b = 0; b < longest; b += POSITION_BLOCK) {
            for (int t = 0; t < tiles; t++) {
                int tile = tileFrom + t;
                int n = length(tile / kvHeads);
                if (b < n) {
                    accumulate(tile / kvHeads, tile % kvHeads, b, Math.min(n, b + POSITION_BLOCK), buf, t * per, g,
                            buf, t * per + g * d, buf, scratchOff);
                }
            }
        }
        for (int t = 0; t < tiles; t++) {
            int tile = tileFrom + t;
            long o0 = outOff + ((long) (tile / kvHeads) * spec.heads() + (long) (tile % kvHeads) * g) * rowBytes;
            for (int r = 0; r < g; r++) {
                SoftmaxState.normalise(buf, t * per + g * d + r * stride, d, out, o0 + r * rowBytes);
            }
        }
    }

    @Override
    public void accumulate(int seq, int kvHead, int from, int to, float[] q, int qOff, int g, float[] st, int stOff,
            float[] scratch) {
        accumulate(seq, kvHead, from, to, q, qOff, g, st, stOff, scratch, 0);
    }

    /** {@link #accumulate} with the scratch at {@code scratch[sOff …]}. */
    void accumulate(int seq, int kvHead, int from, int to, float[] q, int qOff, int g, float[] st, int stOff,
            float[] scratch, int sOff) {
        SinkWindow win = windows[seq];
        int n = win.length();
        if (from < 0 || to > n || from > to || kvHead < 0 || kvHead >= kvHeads) {
            throw new IllegalArgumentException("sink cache: range [" + from + ", " + to + ") of " + n
                    + " tokens, KV head " + kvHead);
        }
        if (from == to) {
            return;
        }
        int qr = sOff;
        int kb = qr + g * d;
        int raw = kb + d;
        int sc = raw + d;
        int vb = sc + g * BLOCK;
        for (int r = 0; r < g; r++) {
            if (rope != null) {
                rotate(q, qOff + r * d, scratch, qr + r * d, n - 1);
            } else {
                System.arraycopy(q, qOff + r * d, scratch, qr + r * d, d);
            }
        }
        long tileBase = (long) (seq * kvHeads + kvHead) * win.capacity();
        long rowBytes = (long) d * (dtype == DType.F16 ? 2 : 4);
        int stride = SoftmaxState.stride(d);
        for (int b0 = from; b0 < to; b0 += BLOCK) {
            int b1 = Math.min(to, b0 + BLOCK);
            int cnt = b1 - b0;
            for (int i = b0; i < b1; ) {
                int end = win.runEnd(i, b1);
                long at = (tileBase + SinkWindow.slotOf(i, win.sinks(), win.window(), win.head())) * rowBytes;
                for (int j = i; j < end; j++, at += rowBytes) {
                    if (rope != null) {
                        stage(keys, at, scratch, raw);
                        rotate(scratch, raw, scratch, kb, j);
                    } else {
                        stage(keys, at, scratch, kb);
                    }
                    for (int r = 0; r < g; r++) {
                        scratch[sc + r * BLOCK + (j - b0)] = dot(scratch, qr + r * d, scratch, kb);
                    }
                }
                i = end;
            }
            for (int r = 0; r < g; r++) {
                softmaxBlock(st, stOff + r * stride, scratch, sc + r * BLOCK, cnt);
            }
            for (int i = b0; i < b1; ) {
                int end = win.runEnd(i, b1);
                long at = (tileBase + SinkWindow.slotOf(i, win.sinks(), win.window(), win.head())) * rowBytes;
                for (int j = i; j < end; j++, at += rowBytes) {
                    stage(values, at, scratch, vb + (j - b0) * d);
                }
                i = end;
            }
            for (int r = 0; r < g; r++) {
                weightedSum(scratch, sc + r * BLOCK, cnt, scratch, vb, st, stOff + r * stride + SoftmaxState.O);
            }
        }
    }

    /**
     * Folds a block of {@code cnt} scores into one state: new maximum, rescale of {@code l} and Õ by
     * {@code exp(m − m')}, and the scores replaced by their weights {@code exp(s − m')} (0 for −∞). A block of only
     * −∞ scores changes nothing and gets weights 0, so no {@code exp(−∞ − (−∞))} is ever formed.
     */
    private void softmaxBlock(float[] st, int b, float[] s, int so, int cnt) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < cnt; j++) {
            max = Math.max(max, s[so + j]);
        }
        float m = st[b + SoftmaxState.M];
        float mNew = Math.max(m, max);
        if (mNew == Float.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(s, so, so + cnt, 0f);
            return;
        }
        float c = m == Float.NEGATIVE_INFINITY ? 0f : VectorMath.exp(m - mNew);
        FloatVector sum = FloatVector.zero(F);
        int j = 0;
        for (; j + L <= cnt; j += L) {
            FloatVector p = VectorMath.exp(FloatVector.fromArray(F, s, so + j).sub(mNew));
            p.intoArray(s, so + j);
            sum = sum.add(p);
        }
        float l = sum.reduceLanes(VectorOperators.ADD);
        for (; j < cnt; j++) {
            float p = s[so + j] == Float.NEGATIVE_INFINITY ? 0f : VectorMath.exp(s[so + j] - mNew);
            s[so + j] = p;
            l += p;
        }
        st[b + SoftmaxState.M] = mNew;
        st[b + SoftmaxState.L] = st[b + SoftmaxState.L] * c + l;
        if (c != 1f) {
            int o = b + SoftmaxState.O;
            int e = 0;
            for (; e + L <= d; e += L) {
                FloatVector.fromArray(F, st, o + e).mul(c).intoArray(st, o + e);
            }
            for (; e < d; e++) {
                st[o + e] *= c;
            }
        }
    }

    /** One cached row (key or value) at byte {@code at}, widened to F32 into {@code dst[off …]}. */
    private void stage(MemorySegment src, long at, float[] dst, int off) {
        if (dtype == DType.F32) {
            MemorySegment.copy(src, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ORDER), at, dst, off, d);
            return;
        }
        int e = 0;
        int bound = d - d % L;
        for (; e < bound; e += L) {
            // Exact F16 → F32 on the bit patterns (as GemvKernel): sign|exponent|mantissa moved to F32 position,
            // the exponent rebiased by a multiply (subnormals included), exponent 31 (Inf/NaN) blended to 255.
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, src, at + 2L * e, ORDER)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector bits = h.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT);
            bits.reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                    .blend(bits.or(0x7f800000), h.and(0x7c00).compare(VectorOperators.EQ, 0x7c00))
                    .reinterpretAsFloats().intoArray(dst, off + e);
        }
        for (; e < d; e++) {
            dst[off + e] = Float.float16ToFloat(src.get(F16, at + 2L * e));
        }
    }

    /** {@code dst = RoPE(src, position p)} for one head vector, the same operations as {@link Rope#apply}. */
    private void rotate(float[] src, int so, float[] dst, int dOff, int p) {
        int t0 = p * perPos;
        if (halfSplit) {
            int half = d / 2;
            int i = 0;
            for (; i + L <= half; i += L) {
                FloatVector a = FloatVector.fromArray(F, src, so + i);
                FloatVector b = FloatVector.fromArray(F, src, so + half + i);
                FloatVector c = FloatVector.fromArray(F, cos, t0 + i);
                FloatVector s = FloatVector.fromArray(F, sin, t0 + i);
                b.fma(s.neg(), a.mul(c)).intoArray(dst, dOff + i);
                a.fma(s, b.mul(c)).intoArray(dst, dOff + half + i);
            }
            for (; i < half; i++) {
                float a = src[so + i];
                float b = src[so + half + i];
                float c = cos[t0 + i];
                float s = sin[t0 + i];
                dst[dOff + i] = Math.fma(b, -s, a * c);
                dst[dOff + half + i] = Math.fma(a, s, b * c);
            }
        } else {
            int j = 0;
            for (; j + L <= d; j += L) {
                FloatVector v = FloatVector.fromArray(F, src, so + j);
                FloatVector c = FloatVector.fromArray(F, cos, t0 + j);
                FloatVector s = FloatVector.fromArray(F, sin, t0 + j);
                v.rearrange(SWAP_PAIRS).fma(s, v.mul(c)).intoArray(dst, dOff + j);
            }
            for (; j < d; j += 2) {
                float a = src[so + j];
                float b = src[so + j + 1];
                float c = cos[t0 + j];
                float s = sin[t0 + j + 1];
                dst[dOff + j] = Math.fma(b, -s, a * c);
                dst[dOff + j + 1] = Math.fma(a, s, b * c);
            }
        }
    }

    private float dot(float[] a, int ao, float[] b, int bo) {
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = s0;
        int e = 0;
        for (; e + 2 * L <= d; e += 2 * L) {
            s0 = FloatVector.fromArray(F, a, ao + e).fma(FloatVector.fromArray(F, b, bo + e), s0);
            s1 = FloatVector.fromArray(F, a, ao + e + L).fma(FloatVector.fromArray(F, b, bo + e + L), s1);
        }
        for (; e + L <= d; e += L) {
            s0 = FloatVector.fromArray(F, a, ao + e).fma(FloatVector.fromArray(F, b, bo + e), s0);
        }
        float s = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; e < d; e++) {
            s = Math.fma(a[ao + e], b[bo + e], s);
        }
        return s;
    }

    /**
     * {@code y += Σ_j p_j · x_j} over {@code d} floats, for the {@code cnt} staged rows {@code x_j} of a block: each
     * vector of {@code y} is loaded and stored once per block, not once per key.
     */
    private void weightedSum(float[] p, int po, int cnt, float[] x, int xo, float[] y, int yo) {
        int e = 0;
        for (; e + L <= d; e += L) {
            FloatVector acc = FloatVector.fromArray(F, y, yo + e);
            for (int j = 0; j < cnt; j++) {
                acc = FloatVector.fromArray(F, x, xo + j * d + e).fma(FloatVector.broadcast(F, p[po + j]), acc);
            }
            acc.intoArray(y, yo + e);
        }
        for (; e < d; e++) {
            float acc = y[yo + e];
            for (int j = 0; j < cnt; j++) {
                acc = Math.fma(p[po + j], x[xo + j * d + e], acc);
            }
            y[yo + e] = acc;
        }
    }
}
