package dev.gale.kernels.attention;

import static dev.gale.kernels.Operands.LE;

import dev.gale.core.buffer.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * An unquantised F32 or F16 cache: per sequence, a key and a value {@link HeadView} (usually head-major
 * {@code [Hkv][capacity][d]}, the layout {@link #headMajor} builds for a whole batch {@code [seq][Hkv][capacity][d]}).
 *
 * <p>{@link #accumulate} stages up to {@link #STAGE} tokens at a time into the worker's scratch as F32 (F16 widened
 * with the Vector API on the bit patterns, exactly, subnormals and Inf/NaN included; F32 copied) and folds them with
 * {@link OnlineSoftmaxBlock}: the K and V of one stage stay in L1/L2 while all {@code g} rows of the GQA group read
 * them, so each cached byte is read from memory once per KV head.
 */
public final class DenseKv implements DecodeKv {
    /** Tokens staged at a time: 64 tokens × d = 128 × 4 bytes is 32 KB per K or V stage (in L2, near L1). */
    public static final int STAGE = 64;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class,
            VectorShape.forBitSize(I.vectorBitSize() / 2));
    private static final ValueLayout.OfFloat F32U = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfShort I16U = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

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
        return OnlineSoftmaxBlock.scratchFloats(Math.min(Math.max(tokens, 1), STAGE), g, d);
    }

    @Override
    public void accumulate(int seq, int kvHead, int from, int to, float[] q, int qOff, int g, float[] st, int stOff,
            float[] scratch) {
        HeadView kv = keys[seq];
        HeadView vv = values[seq];
        int stage = Math.min(STAGE, Math.max(1, to - from));
        int vOff = stage * d;
        int sOff = 2 * stage * d;
        for (int t = from; t < to; t += stage) {
            int n = Math.min(stage, to - t);
            stage(kv, t, kvHead, n, scratch, 0);
            stage(vv, t, kvHead, n, scratch, vOff);
            OnlineSoftmaxBlock.fold(q, qOff, g, d, scratch, 0, scratch, vOff, n, scratch, sOff, st, stOff);
        }
    }

    /** Tokens {@code [t, t+n)} of head {@code h} into {@code dst[off …]} as {@code [n][d]} F32. */
    private void stage(HeadView view, int t, int h, int n, float[] dst, int off) {
        MemorySegment seg = view.segment();
        boolean contiguous = view.tokenStride() == d;
        if (!half) {
            if (contiguous) {
                MemorySegment.copy(seg, F32U, view.at(t, h), dst, off, n * d);
            } else {
                for (int j = 0; j < n; j++) {
                    MemorySegment.copy(seg, F32U, view.at(t + j, h), dst, off + j * d, d);
                }
            }
        } else if (contiguous) {
            widen(seg, view.at(t, h), dst, off, n * d);
        } else {
            for (int j = 0; j < n; j++) {
                widen(seg, view.at(t + j, h), dst, off + j * d, d);
            }
        }
    }

    /** Sign, exponent and mantissa of a sign-extended F16 shifted left by 13 (bits 30..28 are sign copies). */
    private static final int SIGN_EXP_MANT = 0x8fffe000;

    /**
     * {@code count} F16 values → F32, exactly: widen the 16-bit lanes to int lanes, shift the exponent and mantissa
     * into F32 position, rebias by multiplying by 2^112 (which also makes F16 subnormals normal), and blend exponent
     * 31 (Inf/NaN) to 255. The same decode as {@code GemvF16}'s exact path and {@code FloatConversions}.
     */
    static void widen(MemorySegment src, long srcOff, float[] dst, int off, int count) {
        int i = 0;
        int bound = count - count % I.length();
        for (; i < bound; i += I.length()) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, src, srcOff + 2L * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0);
            IntVector e = h.lanewise(VectorOperators.LSHL, 13).and(SIGN_EXP_MANT);
            e.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                    .blend(e.or(0x7f800000), h.and(0x7c00).compare(VectorOperators.EQ, 0x7c00))
                    .reinterpretAsFloats().intoArray(dst, off + i);
        }
        for (; i < count; i++) {
            dst[off + i] = Float.float16ToFloat(src.get(I16U, srcOff + 2L * i));
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
