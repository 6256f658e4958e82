package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.F32;

import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.FloatConversions;
import java.lang.foreign.MemorySegment;

/**
 * An unquantised F32 or F16 cache: per sequence, a key and a value {@link HeadView} (usually head-major
 * {@code [Hkv][capacity][d]}, the layout {@link #headMajor} builds for a whole batch {@code [seq][Hkv][capacity][d]}).
 *
 * <p>{@link #accumulate} stages {@link #CHUNK} tokens at a time in per-worker scratch (F16 widened exactly) and folds
 * them with all {@code g} rows of the GQA group in register tiles, so each cached byte is read from memory once per
 * KV head.
 */
public final class DenseKv implements DecodeKv {
    /**
     * Tokens per softmax update: a range is scored in full, then each row's max, exponentials and rescale are done
     * once for all its scores, and only then are the values read. Against one update per 64 tokens this halved the
     * update's cost per token (8 → 4 ns at g = 4: two horizontal reductions, the exponentials and a rescale of
     * {@code Õ} per row), and 256 keeps the score rows ({@code g·256} floats) small.
     */
    public static final int SPAN = 256;

    /**
     * Tokens widened to F32 at a time: 32 keys (or values) × d = 128 are 16 KB, so the chunk, the query rows and the
     * score rows stay in L1 (48 KB here) while they are folded. A whole 64-token block of keys and values (64 KB)
     * overflowed it: widening keys and values took 28 ns a token instead of 10, and the folds read L2.
     */
    static final int CHUNK = 32;

    private final HeadView[] keys;
    private final HeadView[] values;
    private final int[] lengths;
    private final int kvHeads;
    private final int d;
    private final boolean half;

    /**
     * @param keys    per sequence, its keys (all views F32, or all F16)
     * @param values  per sequence, its values, same dtype
     * @param lengths tokens cached per sequence (copied)
     */
    public DenseKv(HeadView[] keys, HeadView[] values, int[] lengths, int kvHeads, int headDim) {
        if (keys.length != values.length || keys.length != lengths.length) {
            throw new IllegalArgumentException("dense kv: " + keys.length + " key views, " + values.length
                    + " value views, " + lengths.length + " lengths");
        }
        DType dt = keys.length == 0 ? DType.F32 : keys[0].dtype();
        for (int s = 0; s < keys.length; s++) {
            if (keys[s].dtype() != dt || values[s].dtype() != dt) {
                throw new IllegalArgumentException("dense kv: mixed dtypes at sequence " + s);
            }
            if (lengths[s] < 0) {
                throw new IllegalArgumentException("dense kv: negative length " + lengths[s] + " at sequence " + s);
            }
            keys[s].require("dense kv", "k of sequence " + s, lengths[s], kvHeads, headDim);
            values[s].require("dense kv", "v of sequence " + s, lengths[s], kvHeads, headDim);
        }
        this.keys = keys.clone();
        this.values = values.clone();
        this.lengths = lengths.clone();
        this.kvHeads = kvHeads;
        this.d = headDim;
        this.half = dt == DType.F16;
    }

    /** A batch cache {@code [seq][Hkv][capacity][d]} of {@code dtype} at byte 0 of {@code k} and {@code v}. */
    public static DenseKv headMajor(MemorySegment k, MemorySegment v, DType dtype, int kvHeads, int capacity,
            int headDim, int[] lengths) {
        int n = lengths.length;
        HeadView[] ks = new HeadView[n];
        HeadView[] vs = new HeadView[n];
        long seqBytes = (long) kvHeads * capacity * headDim * (dtype == DType.F32 ? 4 : 2);
        for (int s = 0; s < n; s++) {
            if (lengths[s] > capacity) {
                throw new IllegalArgumentException("dense kv: sequence " + s + " has " + lengths[s]
                        + " tokens, capacity " + capacity);
            }
            ks[s] = HeadView.headMajor(k, s * seqBytes, dtype, capacity, headDim);
            vs[s] = HeadView.headMajor(v, s * seqBytes, dtype, capacity, headDim);
        }
        return new DenseKv(ks, vs, lengths, kvHeads, headDim);
    }

    public HeadView keys(int seq) {
        return keys[seq];
    }

    public HeadView values(int seq) {
        return values[seq];
    }

    @Override
    public int sequences() {
        return lengths.length;
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
    public int scratchFloats(int tokens, int g) {
        return CHUNK * d + g * Math.min(Math.max(tokens, 1), SPAN);
    }

    /**
     * Folds the range {@link #SPAN} tokens at a time in two passes over the span, each {@link #CHUNK} tokens at a
     * time: the keys are brought into the worker's scratch as F32 (a bulk copy, or for F16
     * {@link FloatConversions#f16ToF32(MemorySegment, long, float[], int, int)}, the hardware conversion) and scored
     * against all {@code g} rows there; then after one softmax update per row, the values are brought in the same way
     * and accumulated. Each cached byte is read from memory once per KV head, and every reread is from L1.
     */
    @Override
    public void accumulate(int seq, int kvHead, int from, int to, float[] q, int qOff, int g, float[] st, int stOff,
            float[] scratch) {
        int sBase = CHUNK * d;
        for (int t = from; t < to; t += SPAN) {
            int n = Math.min(SPAN, to - t);
            for (int c = 0; c < n; c += CHUNK) {
                int m = Math.min(CHUNK, n - c);
                stage(keys[seq], kvHead, t + c, m, scratch, 0);
                OnlineSoftmaxBlock.scores(q, qOff, g, d, scratch, 0, m, scratch, sBase + c, n);
            }
            for (int r = 0; r < g; r++) {
                OnlineSoftmaxBlock.update(scratch, sBase + r * n, n, st, stOff + r * (d + 2), d);
            }
            for (int c = 0; c < n; c += CHUNK) {
                int m = Math.min(CHUNK, n - c);
                stage(values[seq], kvHead, t + c, m, scratch, 0);
                OnlineSoftmaxBlock.pv(scratch, sBase + c, n, m, g, scratch, 0, d, st, stOff);
            }
        }
    }

    /** Tokens {@code [t, t + n)} of one head of a view → {@code dst[off …]} as {@code [n][d]} F32. */
    private void stage(HeadView view, int kvHead, int t, int n, float[] dst, int off) {
        if (view.tokenStride() == d) {
            // Head-major: the block is one contiguous run.
            copy(view, view.at(t, kvHead), dst, off, n * d);
            return;
        }
        for (int j = 0; j < n; j++) {
            copy(view, view.at(t + j, kvHead), dst, off + j * d, d);
        }
    }

    private void copy(HeadView view, long at, float[] dst, int off, int count) {
        if (half) {
            FloatConversions.f16ToF32(view.segment(), at, dst, off, count);
        } else {
            MemorySegment.copy(view.segment(), F32, at, dst, off, count);
        }
    }

    @Override
    public String describe() {
        return half ? "f16" : "f32";
    }

    @Override
    public double bytesPerToken() {
        return 2.0 * kvHeads * d * (half ? 2 : 4);
    }
}
