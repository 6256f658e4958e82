package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F32;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * H2O's cache (papers.md §9) for one sequence: at most {@code heavy + recent} tokens, F32, head-major
 * {@code [Hkv][budget][d]}. When it is full, the token to evict is the one with the least accumulated attention among
 * those older than the {@code recent} newest (ties: the oldest). Keys are stored rotated at their original positions,
 * so the kept tokens keep their positions (H2O, unlike StreamingLLM, does not re-index).
 *
 * <p>Accumulated attention is each token's softmax probability summed over the query heads of every decode step
 * since it entered the cache, per KV head (so the heads' passes, which run in parallel, never share a counter), and
 * summed over KV heads when a victim is chosen. {@link #decode} computes it for free: the fold leaves each key
 * block's {@code exp(s_j − m_block)}, and with the row's final {@code (m, l)} that is {@code p_j = e_j·e^{m_block − m}/l}.
 */
public final class HeavyHitterKv {
    /** Tokens per fold: the block the probabilities are recovered per. */
    private static final int BLOCK = 64;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final int kvHeads;
    private final int d;
    private final int heavy;
    private final int recent;
    private final int budget;
    private final MemorySegment keys;
    private final MemorySegment values;
    private final long[] position;
    private final float[][] acc;
    private final float[][] scratch;
    private int length;

    /** {@code keys} and {@code values} hold {@code kvHeads·(heavy + recent)·d} F32 each (for example Arrow memory). */
    public HeavyHitterKv(int kvHeads, int d, int heavy, int recent, MemorySegment keys, MemorySegment values) {
        if (kvHeads < 1 || d < 1 || heavy < 0 || recent < 1) {
            throw new IllegalArgumentException("h2o: kvHeads, d, recent >= 1 and heavy >= 0; got " + kvHeads + ", "
                    + d + ", " + heavy + ", " + recent);
        }
        this.kvHeads = kvHeads;
        this.d = d;
        this.heavy = heavy;
        this.recent = recent;
        this.budget = heavy + recent;
        long bytes = 4L * kvHeads * budget * d;
        if (keys.byteSize() < bytes || values.byteSize() < bytes) {
            throw new IllegalArgumentException("h2o: keys and values need " + bytes + " bytes each");
        }
        this.keys = keys;
        this.values = values;
        this.position = new long[budget];
        this.acc = new float[kvHeads][budget];
        this.scratch = new float[kvHeads][];
    }

    public int length() {
        return length;
    }

    public int budget() {
        return budget;
    }

    /** Original position of the token in slot {@code s}. */
    public long position(int slot) {
        return position[slot];
    }

    /** Attention accumulated by slot {@code s}, summed over KV heads. */
    public float accumulated(int slot) {
        float a = 0;
        for (float[] h : acc) {
            a += h[slot];
        }
        return a;
    }

    /**
     * Bytes of {@link #saveState}'s record: the length (int), each slot's position (long) and each KV head's
     * accumulated attention per slot (float), little-endian.
     */
    public long stateBytes() {
        return 4L + 8L * budget + 4L * kvHeads * budget;
    }

    /**
     * Writes what the keys and values do not hold (which slots are live, their positions, their accumulated
     * attention) to {@code dst} at byte 0: with the key and value storage it is the whole cache.
     */
    public void saveState(MemorySegment dst) {
        requireState(dst);
        dst.set(INT, 0, length);
        for (int s = 0; s < budget; s++) {
            dst.set(LONG, 4L + 8L * s, position[s]);
        }
        long at = 4L + 8L * budget;
        for (int h = 0; h < kvHeads; h++) {
            MemorySegment.copy(acc[h], 0, dst, FLOAT, at + 4L * h * budget, budget);
        }
    }

    /** Restores {@link #saveState}'s record from {@code src} (over key and value storage saved with it). */
    public void restoreState(MemorySegment src) {
        requireState(src);
        int n = src.get(INT, 0);
        if (n < 0 || n > budget) {
            throw new IllegalArgumentException("h2o state: length " + n + " outside [0, " + budget + "]");
        }
        length = n;
        for (int s = 0; s < budget; s++) {
            position[s] = src.get(LONG, 4L + 8L * s);
        }
        long at = 4L + 8L * budget;
        for (int h = 0; h < kvHeads; h++) {
            MemorySegment.copy(src, FLOAT, at + 4L * h * budget, acc[h], 0, budget);
        }
    }

    private void requireState(MemorySegment m) {
        if (m.byteSize() < stateBytes()) {
            throw new IllegalArgumentException("h2o state: " + m.byteSize() + " bytes, the record needs "
                    + stateBytes());
        }
    }

    /**
     * Appends one token at position {@code pos}: keys {@code [Hkv][d]} (already rotated) and values, F32 at byte 0 of
     * {@code k} and {@code v}. Returns the slot it took.
     */
    public int append(MemorySegment k, MemorySegment v, long pos) {
        return append(k, 0, v, 0, pos);
    }

    /** {@link #append(MemorySegment, MemorySegment, long)} with the token's keys and values at the byte offsets. */
    public int append(MemorySegment k, long kOff, MemorySegment v, long vOff, long pos) {
        int slot = length < budget ? length++ : victim(pos);
        for (int h = 0; h < kvHeads; h++) {
            long dst = 4L * ((long) h * budget + slot) * d;
            MemorySegment.copy(k, kOff + 4L * h * d, keys, dst, 4L * d);
            MemorySegment.copy(v, vOff + 4L * h * d, values, dst, 4L * d);
            acc[h][slot] = 0f;
        }
        position[slot] = pos;
        return slot;
    }

    /** The evicted slot: least accumulated attention among tokens older than the {@code recent} newest before pos. */
    private int victim(long pos) {
        long newestKept = pos - recent;
        int best = -1;
        float bestAcc = 0;
        for (int s = 0; s < budget; s++) {
            if (position[s] >= newestKept) {
                continue;
            }
            float a = accumulated(s);
            if (best < 0 || a < bestAcc || (a == bestAcc && position[s] < position[best])) {
                best = s;
                bestAcc = a;
            }
        }
        if (best < 0) {
            throw new IllegalStateException("h2o: no slot older than the recent window (heavy " + heavy + ")");
        }
        return best;
    }

    /**
     * Decode attention of the {@code Hq} query heads at {@code q} ({@code [Hq][d]} F32, not scaled) over the cached
     * tokens into {@code out}, one pass per KV head on the shared pool, and the attention each token received added to
     * its counters. Slots are visited in slot order; attention does not depend on the order of its keys.
     */
    public void decode(AttentionSpec spec, MemorySegment q, MemorySegment out) {
        decode(spec, q, 0, out, 0);
    }

    /** {@link #decode(AttentionSpec, MemorySegment, MemorySegment)} with the query and output at the byte offsets. */
    public void decode(AttentionSpec spec, MemorySegment q, long qOff, MemorySegment out, long outOff) {
        if (spec.kvHeads() != kvHeads || spec.headDim() != d) {
            throw new IllegalArgumentException("h2o: spec " + spec + " does not match the cache");
        }
        WorkerPool.shared().parallelFor(kvHeads, 1, (h0, h1) -> {
            for (int h = h0; h < h1; h++) {
                head(spec, h, q, qOff, out, outOff);
            }
        });
    }

    private void head(AttentionSpec spec, int h, MemorySegment q, long qOff, MemorySegment out, long outOff) {
        int g = spec.group();
        int n = length;
        int stride = d + 2;
        int blocks = (n + BLOCK - 1) / BLOCK;
        int need = g * d + g * stride + OnlineSoftmaxBlock.scratchFloats(BLOCK, g, d) + blocks * BLOCK * g
                + blocks * g;
        float[] s = scratch[h];
        if (s == null || s.length < need) {
            s = new float[need];
            scratch[h] = s;
        }
        int qAt = 0;
        int stOff = g * d;
        int work = stOff + g * stride;
        int probs = work + OnlineSoftmaxBlock.scratchFloats(BLOCK, g, d);
        int maxes = probs + blocks * BLOCK * g;
        // Bulk copies in and out of the segments (see SoftmaxState#normalise for why not element by element).
        MemorySegment.copy(q, F32, qOff + 4L * h * g * d, s, qAt, g * d);
        for (int i = 0; i < g * d; i++) {
            s[qAt + i] *= spec.scale();
        }
        SoftmaxState.reset(s, stOff, g, d);
        long base = 4L * h * budget * d;
        for (int b = 0; b < blocks; b++) {
            int from = b * BLOCK;
            int cnt = Math.min(BLOCK, n - from);
            // Staged like DenseKv: keys and values of the block as F32 at work, their scores after them.
            int vAt = work + cnt * d;
            int scores = vAt + cnt * d;
            MemorySegment.copy(keys, F32, base + 4L * from * d, s, work, cnt * d);
            MemorySegment.copy(values, F32, base + 4L * from * d, s, vAt, cnt * d);
            OnlineSoftmaxBlock.fold(s, qAt, g, d, s, work, s, vAt, cnt, s, scores, s, stOff);
            for (int r = 0; r < g; r++) {
                System.arraycopy(s, scores + r * cnt, s, probs + (b * g + r) * BLOCK, cnt);
                s[maxes + b * g + r] = s[stOff + r * stride + SoftmaxState.M];
            }
        }
        float[] a = acc[h];
        for (int r = 0; r < g; r++) {
            int st = stOff + r * stride;
            float l = s[st + SoftmaxState.L];
            SoftmaxState.normalise(s, st, d, out, outOff + 4L * (h * g + r) * d);
            if (l == 0f) {
                continue;
            }
            float m = s[st + SoftmaxState.M];
            for (int b = 0; b < blocks; b++) {
                int from = b * BLOCK;
                int cnt = Math.min(BLOCK, n - from);
                float scaleToFinal = (float) Math.exp(s[maxes + b * g + r] - m) / l;
                int p = probs + (b * g + r) * BLOCK;
                for (int j = 0; j < cnt; j++) {
                    a[from + j] += s[p + j] * scaleToFinal;
                }
            }
        }
    }

    /** The scalar reference of {@link #decode} without the counters: {@link AttentionReference} over the slots. */
    public void reference(AttentionSpec spec, MemorySegment q, MemorySegment out) {
        AttentionReference.attend(spec, HeadView.tokenMajor(q, 0, spec.heads(), d),
                HeadView.headMajor(keys, 0, dev.gale.core.buffer.DType.F32, budget, d),
                HeadView.headMajor(values, 0, dev.gale.core.buffer.DType.F32, budget, d),
                HeadView.tokenMajor(out, 0, spec.heads(), d), 1, length, null, 0, null, null);
    }

    @Override
    public String toString() {
        return "h2o(heavy " + heavy + ", recent " + recent + ", " + length + "/" + budget + " tokens)";
    }

    /** For tests: the key slots. */
    MemorySegment keysForTests() {
        return keys;
    }

    /** For tests: the accumulated attention of every slot, per KV head. */
    float[][] counters() {
        float[][] c = new float[kvHeads][];
        for (int h = 0; h < kvHeads; h++) {
            c[h] = Arrays.copyOf(acc[h], budget);
        }
        return c;
    }
}
