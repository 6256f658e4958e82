package dev.gale.kernels.quant;

import dev.gale.core.ShapeMismatchException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;

/**
 * Symmetric group-wise INT4 weights for the W4Ax kernels (COMET §4.1 item 7, §4.2 "fast INT4 → INT8"): a
 * {@code rows × in} matrix, {@code in} a multiple of {@link #BLOCK} = 128 (the FMPQ activation block), one F32 scale
 * per (row, group) with the group size 32, 64 or 128 (so groups never straddle an activation block).
 *
 * <p><b>Quantization.</b> {@code s = max|w| / 7} over the group, {@code q = clamp(rint(w / s), −7, 7)}; an all-zero
 * group has {@code s = 0} and codes 0. Dequantized {@code w ≈ s·q}, error at most {@code s/2}. The code −8 is never
 * produced but the kernels accept it (a nibble is read as any signed 4-bit value).
 *
 * <p><b>Layout.</b> {@code codes}: {@code rows · in/2} bytes, row-major, each row a run of 128-element blocks of 64
 * bytes. Within a block, byte {@code j} (0..63) holds element {@code j} in its <i>low</i> nibble and element
 * {@code j + 64} in its <i>high</i> nibble, both two's complement. {@code scales}: {@code rows · in/group} F32, row
 * major. The nibble order is chosen for the COMET conversion: for a vector of bytes {@code v},
 * <pre>
 *   hi = v &amp; 0xF0        (as signed bytes: 16·q of elements j + 64)
 *   lo = v &lt;&lt; 4          (as signed bytes: 16·q of elements j)
 * </pre>
 * one AND or one shift per byte vector, no sign extension (the nibble's sign bit lands on the byte's sign bit). The
 * factor 16 is exact and is taken out of the scale ({@code ·1/16}) after the integer dot. The same two operations
 * work on wider lanes holding the sign-extended byte: {@code v & −16} and {@code (v << 28) >> 24} on an int; the
 * Vector API kernel ({@link W4AxMatmul}) uses that form, the device kernels ({@link W4AxKernels}) too. A 32-byte load at
 * {@code j = 0} or {@code 32} thus gives two 32-element pieces (elements {@code j..j+31} and {@code j+64..j+95}) in
 * consumer order, and a group of 32 is exactly one piece, a group of 64 two, a group of 128 four.
 *
 * <p>Immutable after {@link #quantize}/{@link #of}; safe to share between threads.
 */
public final class W4Weights {
    /** Elements per activation block (FMPQ) and per weight block of the layout. */
    public static final int BLOCK = 128;
    /** Bytes per 128-element block. */
    static final int BLOCK_BYTES = BLOCK / 2;
    static final ValueLayout.OfFloat F32 = QuantVectors.F32;

    private final int rows;
    private final int in;
    private final int group;
    private final MemorySegment codes;
    private final MemorySegment scales;

    private W4Weights(int rows, int in, int group, MemorySegment codes, MemorySegment scales) {
        this.rows = rows;
        this.in = in;
        this.group = group;
        this.codes = codes;
        this.scales = scales;
    }

    /** Checks the shape rules shared by every W4Ax entry point. */
    static void requireShape(int rows, int in, int group) {
        if (group != 32 && group != 64 && group != 128) {
            throw new ShapeMismatchException("W4 group size " + group + " is not 32, 64 or 128");
        }
        if (in <= 0 || in % BLOCK != 0) {
            throw new ShapeMismatchException("W4 row length " + in + " is not a positive multiple of " + BLOCK);
        }
        if (rows <= 0) {
            throw new ShapeMismatchException("W4 rows must be positive: " + rows);
        }
    }

    /** Wraps existing codes and scales in this class's layout (for example read from a file). */
    public static W4Weights of(int rows, int in, int group, MemorySegment codes, MemorySegment scales) {
        requireShape(rows, in, group);
        QuantVectors.requireBytes(codes, 0, (long) rows * in / 2, "W4 codes");
        QuantVectors.requireBytes(scales, 0, 4L * rows * (in / group), "W4 scales");
        return new W4Weights(rows, in, group, codes, scales);
    }

    /** Quantizes F32 {@code w[rows][in]} at {@code wOff} into segments from {@code allocator}. */
    public static W4Weights quantize(MemorySegment w, long wOff, int rows, int in, int group,
            SegmentAllocator allocator) {
        requireShape(rows, in, group);
        QuantVectors.requireBytes(w, wOff, 4L * rows * in, "W4 quantize source");
        MemorySegment codes = allocator.allocate((long) rows * in / 2, 64);
        MemorySegment scales = allocator.allocate(4L * rows * (in / group), 64);
        int groups = in / group;
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < groups; g++) {
                long base = wOff + 4L * ((long) r * in + (long) g * group);
                float max = 0;
                for (int i = 0; i < group; i++) {
                    max = Math.max(max, Math.abs(w.get(F32, base + 4L * i)));
                }
                float s = max / 7f;
                scales.set(F32, 4L * ((long) r * groups + g), s);
                for (int i = 0; i < group; i++) {
                    int q = s == 0 ? 0 : (int) Math.max(-7, Math.min(7, Math.rint(w.get(F32, base + 4L * i) / s)));
                    setCode(codes, r, in, g * group + i, q);
                }
            }
        }
        return new W4Weights(rows, in, group, codes, scales);
    }

    /**
     * As {@link #quantize} but with all 16 codes, llama.cpp's Q4_0 rule: {@code s = m / −8} for the group's
     * signed extreme {@code m} (the value of largest magnitude), {@code q = clamp(rint(w / s), −8, 7)}. The extreme
     * lands on −8 exactly and the step is {@code max|w|/8} instead of {@code /7}; the scale is negative when
     * {@code m} is positive, which the kernels' {@code s_w·q} products do not mind. Used by the decoder's W4Ax
     * conversion (perplexity of stories260K in docs/w4a4.md).
     */
    public static W4Weights quantizeFullRange(MemorySegment w, long wOff, int rows, int in, int group,
            SegmentAllocator allocator) {
        return quantizeSearch(w, wOff, rows, in, group, null, 1, allocator); // ratio 1 only: the plain rule
    }

    /** Clip ratios {@link #quantizeClipped} tries: {@code 1, 1 − 1/40, …}, down to {@code 1/2}. */
    public static final int CLIP_RATIOS = 21;

    /**
     * As {@link #quantizeFullRange} with each group's scale chosen to minimise its weighted squared error: for
     * ratios {@code r = 1, 0.975, …, 0.5}, {@code s = r·m/−8} ({@code m} the group's signed extreme) and
     * {@code E(r) = Σ_i importance[c_i]·(w_i − s·q_i)²}; the smallest {@code E} wins, ties to the larger {@code r}
     * (so {@code r = 1}, the plain rule, unless clipping strictly helps). A ratio below 1 clips the extreme to −8 or
     * 7 and spends the 16 codes on the bulk of the group. {@code importance[c]} weighs input column {@code c}: the
     * calibration mean square {@code E[x_c²]} of the activation it multiplies makes {@code E} the expected squared
     * error of this group's part of the dot product for uncorrelated channels (AWQ/GPTQ-lite); null weighs every
     * column 1 (the group's own MSE). Storage is the same as {@link #quantizeFullRange}: one scale per group.
     */
    public static W4Weights quantizeClipped(MemorySegment w, long wOff, int rows, int in, int group,
            float[] importance, SegmentAllocator allocator) {
        return quantizeSearch(w, wOff, rows, in, group, importance, CLIP_RATIOS, allocator);
    }

    /** The first {@code ratios} of {@link #quantizeClipped}'s clip ratios searched per group. */
    private static W4Weights quantizeSearch(MemorySegment w, long wOff, int rows, int in, int group,
            float[] importance, int ratios, SegmentAllocator allocator) {
        requireShape(rows, in, group);
        QuantVectors.requireBytes(w, wOff, 4L * rows * in, "W4 quantize source");
        if (importance != null && importance.length != in) {
            throw new ShapeMismatchException("W4 importance has " + importance.length + " entries for " + in
                    + " columns");
        }
        MemorySegment codes = allocator.allocate((long) rows * in / 2, 64);
        MemorySegment scales = allocator.allocate(4L * rows * (in / group), 64);
        int groups = in / group;
        float[] v = new float[group];
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < groups; g++) {
                long base = wOff + 4L * ((long) r * in + (long) g * group);
                float m = 0;
                for (int i = 0; i < group; i++) {
                    v[i] = w.get(F32, base + 4L * i);
                    if (Math.abs(v[i]) > Math.abs(m)) {
                        m = v[i];
                    }
                }
                float best = m / -8f;
                double bestErr = Double.POSITIVE_INFINITY;
                for (int k = 0; k < ratios && m != 0; k++) {
                    float s = (1f - k / 40f) * m / -8f;
                    double err = 0;
                    for (int i = 0; i < group; i++) {
                        double e = v[i] - s * (float) code(v[i], s);
                        err += (importance == null ? 1 : importance[g * group + i]) * e * e;
                    }
                    if (err < bestErr) {
                        bestErr = err;
                        best = s;
                    }
                }
                scales.set(F32, 4L * ((long) r * groups + g), best);
                for (int i = 0; i < group; i++) {
                    setCode(codes, r, in, g * group + i, code(v[i], best));
                }
            }
        }
        return new W4Weights(rows, in, group, codes, scales);
    }

    /** The full-range code of {@code w} at scale {@code s}: {@code clamp(rint(w/s), −8, 7)}, 0 for {@code s = 0}. */
    private static int code(float w, float s) {
        return s == 0 ? 0 : (int) Math.max(-8, Math.min(7, Math.rint(w / s)));
    }

    /** Byte offset of element {@code c}'s byte in row {@code r}, and whether it is the high nibble ({@code c%128 >= 64}). */
    static long byteOf(int r, int in, int c) {
        return (long) r * (in / 2) + (long) (c / BLOCK) * BLOCK_BYTES + (c % BLOCK_BYTES);
    }

    static void setCode(MemorySegment codes, int r, int in, int c, int q) {
        long o = byteOf(r, in, c);
        int v = codes.get(ValueLayout.JAVA_BYTE, o) & 0xFF;
        v = c % BLOCK >= BLOCK_BYTES ? (v & 0x0F) | ((q & 0xF) << 4) : (v & 0xF0) | (q & 0xF);
        codes.set(ValueLayout.JAVA_BYTE, o, (byte) v);
    }

    /** The signed code of element {@code c} of row {@code r}, in −8..7 (scalar reference unpack). */
    public int code(int r, int c) {
        int v = codes.get(ValueLayout.JAVA_BYTE, byteOf(r, in, c));
        // the nibble moved to the top of an int and shifted back arithmetically: sign extension of 4 bits
        return c % BLOCK >= BLOCK_BYTES ? (v << 24) >> 28 : (v << 28) >> 28;
    }

    /** The scale of the group holding element {@code c} of row {@code r}. */
    public float scale(int r, int c) {
        return scales.get(F32, 4L * ((long) r * (in / group) + c / group));
    }

    /** Row {@code r} dequantized, {@code s·q}, into F32 {@code dst} at {@code dstOff}. */
    public void dequantizeRow(int r, MemorySegment dst, long dstOff) {
        QuantVectors.requireRange(r, r + 1, rows);
        QuantVectors.requireBytes(dst, dstOff, 4L * in, "W4 dequantize destination");
        for (int c = 0; c < in; c++) {
            dst.set(F32, dstOff + 4L * c, scale(r, c) * code(r, c));
        }
    }

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    public int group() {
        return group;
    }

    /** Packed codes, {@code rows · in/2} bytes (the device kernels' U8 argument). */
    public MemorySegment codes() {
        return codes;
    }

    /** Scales, {@code rows · in/group} F32 (the device kernels' F32 argument). */
    public MemorySegment scales() {
        return scales;
    }

    /** Bytes a GEMV streams: codes and scales. */
    public long byteSize() {
        return (long) rows * in / 2 + 4L * rows * (in / group);
    }
}
