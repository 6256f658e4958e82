package dev.gale.kernels.quant;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * FMPQ activations (COMET §4.1 items 2, 5, 6): {@code tokens × in} F32 activations quantized per token per block of
 * {@link W4Weights#BLOCK} = 128 channels, symmetric, one F32 scale per (token, block): {@code s = max|x|/7} and
 * {@code q = clamp(rint(x/s), −7, 7)} for an A4 block, {@code s = max|x|/127}, {@code q ∈ [−127, 127]} for an A8
 * block (an all-zero block has {@code s = 0}, codes 0). Which blocks are A8 is the {@link #eightBit() precision
 * map}, fixed per layer by {@link FmpqPlan} (the outlier channels are permuted into the leading blocks offline).
 * Dynamic per-(token, block) scales are this class's choice where the paper is silent: they cost one max per block
 * and follow each token's range.
 *
 * <p><b>Storage</b> (a buffer reused across calls; {@link #quantize} overwrites it):
 * <ul>
 *   <li>{@code codes}: int8 {@code [tokens][in]}, one code per byte for A4 and A8 alike (the device kernels' I8
 *       argument). The CPU has no 4-bit multiply, so A4 codes are not packed: what A4 changes is the precision.</li>
 *   <li>{@code wide}: the same codes converted once to F32 {@code [tokens][in]} (exact small integers), which the
 *       Vector API kernels load directly (the weights are widened in the inner loop, the activations once per
 *       quantization; see {@link W4AxMatmul} for why F32 lanes).</li>
 *   <li>{@code scales}: F32 {@code [tokens][in/128]}.</li>
 * </ul>
 * The kernels' lane sums stay exact integers ({@code 32·16·8·127 < 2^24}). Non-finite activations are not supported (their block's scale becomes
 * NaN or Inf). Not thread-safe while quantizing.
 */
public final class ActivationQuant {
    static final ValueLayout.OfFloat F32 = QuantVectors.F32;
    private static final boolean VECTOR_OK = QuantVectors.VECTOR_OK;
    private static final VectorSpecies<Float> F = QuantVectors.F;
    private static final VectorSpecies<Byte> B = QuantVectors.B;
    private static final int L = QuantVectors.L;
    private static final ByteOrder LE = QuantVectors.LE;
    /** 1.5·2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer, ties to even. */
    private static final FloatVector RINT = FloatVector.broadcast(F, 0x1.8p23f);
    private static final VectorSpecies<Byte> B64 = ByteVector.SPECIES_64;
    private static final VectorSpecies<Short> S128 = ShortVector.SPECIES_128;
    /** Token count from which one quantization is split over the worker pool (a prefill; decode stays serial). */
    private static final int PARALLEL_TOKENS = 16;

    private final int maxTokens;
    private final int in;
    private final int blocks;
    private final boolean[] eightBit;
    private final boolean[] fourBit;
    private final MemorySegment codes;
    private final MemorySegment wide;
    private final MemorySegment scales;
    /** Token 0 in the decode GEMV's operand form ({@link #prepareGemvOperand()}), derived on first use. */
    private final short[] operandCodes;
    private final float[] operandScales;
    private final int[] operandZeros;
    private boolean operandReady;
    private int tokens;

    private ActivationQuant(int maxTokens, int in, boolean[] eightBit, SegmentAllocator allocator) {
        this.maxTokens = maxTokens;
        this.in = in;
        this.blocks = in / W4Weights.BLOCK;
        this.eightBit = eightBit.clone();
        this.fourBit = new boolean[eightBit.length];
        for (int b = 0; b < eightBit.length; b++) {
            fourBit[b] = !eightBit[b];
        }
        this.codes = allocator.allocate((long) maxTokens * in, 64);
        this.wide = allocator.allocate(4L * maxTokens * in, 64);
        this.scales = allocator.allocate(4L * maxTokens * blocks, 64);
        this.operandCodes = new short[in];
        this.operandScales = new float[blocks];
        this.operandZeros = new int[blocks];
    }

    /**
     * A buffer for up to {@code maxTokens} tokens of {@code in} channels with the given precision map (one entry per
     * 128-channel block, true = A8). All-false is plain W4A4, all-true W4A8.
     */
    public static ActivationQuant allocate(int maxTokens, int in, boolean[] eightBit, SegmentAllocator allocator) {
        if (in <= 0 || in % W4Weights.BLOCK != 0) {
            throw new ShapeMismatchException("activation width " + in + " is not a positive multiple of "
                    + W4Weights.BLOCK);
        }
        if (eightBit.length != in / W4Weights.BLOCK) {
            throw new ShapeMismatchException("precision map has " + eightBit.length + " blocks, the activations "
                    + in / W4Weights.BLOCK);
        }
        if (maxTokens <= 0) {
            throw new ShapeMismatchException("maxTokens must be positive: " + maxTokens);
        }
        return new ActivationQuant(maxTokens, in, eightBit, allocator);
    }

    /** An all-A4 ({@code eightBit = false}) or all-A8 map for {@code in} channels. */
    public static boolean[] uniform(int in, boolean eightBit) {
        boolean[] m = new boolean[in / W4Weights.BLOCK];
        java.util.Arrays.fill(m, eightBit);
        return m;
    }

    /**
     * Quantizes {@code tokens} rows of F32 {@code x} at {@code xOff} (row stride {@code in}): per (token, block)
     * {@code s = max|x|/qmax}, {@code q = clamp(rint(x/s), −qmax, qmax)} with {@code qmax} 7 (A4) or 127 (A8). The
     * Vector API path gives the same bits as {@link #quantizeReference(MemorySegment, long, int)}; it allocates
     * nothing for one token, and splits larger token counts over {@link WorkerPool#shared()}.
     */
    public void quantize(MemorySegment x, long xOff, int tokens) {
        checkTokens(tokens);
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "activation quantize source");
        begin(tokens);
        if (!VECTOR_OK) {
            referenceRows(x, xOff, 0, tokens);
        } else if (tokens < PARALLEL_TOKENS) {
            plainRows(x, xOff, 0, tokens);
        } else {
            WorkerPool.shared().parallelFor(tokens, PARALLEL_TOKENS / 2, (t0, t1) -> plainRows(x, xOff, t0, t1));
        }
    }

    /** The scalar reference of {@link #quantize(MemorySegment, long, int)}. */
    public void quantizeReference(MemorySegment x, long xOff, int tokens) {
        checkTokens(tokens);
        QuantVectors.requireBytes(x, xOff, 4L * tokens * in, "activation quantize source");
        begin(tokens);
        referenceRows(x, xOff, 0, tokens);
    }

    private void referenceRows(MemorySegment x, long xOff, int t0, int t1) {
        for (int t = t0; t < t1; t++) {
            for (int b = 0; b < blocks; b++) {
                long base = xOff + 4L * ((long) t * in + (long) b * W4Weights.BLOCK);
                float max = 0;
                for (int i = 0; i < W4Weights.BLOCK; i++) {
                    max = Math.max(max, Math.abs(x.get(F32, base + 4L * i)));
                }
                int qmax = eightBit[b] ? 127 : 7;
                float s = max / qmax;
                scales.set(F32, 4L * ((long) t * blocks + b), s);
                long c0 = (long) t * in + (long) b * W4Weights.BLOCK;
                for (int i = 0; i < W4Weights.BLOCK; i++) {
                    int q = s == 0 ? 0 : (int) Math.max(-qmax, Math.min(qmax, Math.rint(x.get(F32, base + 4L * i) / s)));
                    codes.set(ValueLayout.JAVA_BYTE, c0 + i, (byte) q);
                    wide.set(F32, 4 * (c0 + i), (float) q);
                }
            }
        }
    }

    private void plainRows(MemorySegment x, long xOff, int t0, int t1) {
        for (int t = t0; t < t1; t++) {
            for (int b = 0; b < blocks; b++) {
                long base = xOff + 4L * ((long) t * in + (long) b * W4Weights.BLOCK);
                int qmax = eightBit[b] ? 127 : 7;
                float s = absMax(x, base, W4Weights.BLOCK) / qmax;
                scales.set(F32, 4L * ((long) t * blocks + b), s);
                block(x, base, W4Weights.BLOCK, s, -qmax, qmax, (long) t * in + (long) b * W4Weights.BLOCK);
            }
        }
    }

    /**
     * Quantizes {@code tokens} rows of F32 {@code x} (row stride {@code blocks.in()} floats) laid out by
     * {@code blocks} (whose {@link ChannelBlocks#width()} and precision map this buffer was allocated with): block
     * {@code b} reads the contiguous channels {@code [start(b), start(b) + length(b))} and zero-pads the rest, so
     * the padding of a layer narrower than a block costs no copy. A8 blocks round as {@link #quantize}; A4 blocks
     * use all 16 codes, {@code s = m/−8} for the block's signed extreme {@code m} (the first channel of largest
     * magnitude), {@code q = clamp(rint(x/s), −8, 7)} (one step of {@code max/8} instead of {@code max/7}; measured
     * in docs/w4a4.md), times the layout's {@link ChannelBlocks#activationClip() clip ratio} (1 unless the
     * conversion chose one). The kernels' exactness bound holds: {@code |16·q_w·q_x| ≤ 16·8·127}. The Vector API
     * path gives the same bits as {@link #quantizeReference(MemorySegment, long, int, ChannelBlocks)}.
     */
    public void quantize(MemorySegment x, long xOff, int tokens, ChannelBlocks layout) {
        checkLayout(x, xOff, tokens, layout);
        begin(tokens);
        if (!VECTOR_OK) {
            referenceRows(x, xOff, 0, tokens, layout);
        } else if (tokens < PARALLEL_TOKENS) {
            layoutRows(x, xOff, 0, tokens, layout);
        } else {
            WorkerPool.shared().parallelFor(tokens, PARALLEL_TOKENS / 2,
                    (t0, t1) -> layoutRows(x, xOff, t0, t1, layout));
        }
    }

    /**
     * Rows {@code [t0, t1)} of {@link #quantize(MemorySegment, long, int, ChannelBlocks)} of {@code tokens} rows at
     * {@code xOff}, for a producer that fuses the quantization into its own pass over the rows (quantizing each row
     * right after writing it, while it is in L1; {@code RmsNormQuant}). Calls covering {@code [0, tokens)} in
     * disjoint ranges, from any threads of one parallel loop, give {@code quantize}'s bits; allocates nothing.
     */
    public void quantizeRows(MemorySegment x, long xOff, int tokens, int t0, int t1, ChannelBlocks layout) {
        checkRows(x, xOff, tokens, t0, t1, layout);
        if (VECTOR_OK) {
            layoutRows(x, xOff, t0, t1, layout);
        } else {
            referenceRows(x, xOff, t0, t1, layout);
        }
    }

    /** The scalar reference of {@link #quantizeRows}. */
    public void quantizeRowsReference(MemorySegment x, long xOff, int tokens, int t0, int t1, ChannelBlocks layout) {
        checkRows(x, xOff, tokens, t0, t1, layout);
        referenceRows(x, xOff, t0, t1, layout);
    }

    private void checkRows(MemorySegment x, long xOff, int tokens, int t0, int t1, ChannelBlocks layout) {
        checkLayout(x, xOff, tokens, layout);
        if (t0 < 0 || t1 > tokens || t0 > t1) {
            throw new ShapeMismatchException("token rows [" + t0 + ", " + t1 + ") outside [0, " + tokens + ")");
        }
        begin(tokens); // the same values from every range: the state is complete once all ranges ran
    }

    /** The scalar reference of {@link #quantize(MemorySegment, long, int, ChannelBlocks)}. */
    public void quantizeReference(MemorySegment x, long xOff, int tokens, ChannelBlocks layout) {
        checkLayout(x, xOff, tokens, layout);
        begin(tokens);
        referenceRows(x, xOff, 0, tokens, layout);
    }

    private void referenceRows(MemorySegment x, long xOff, int t0, int t1, ChannelBlocks layout) {
        int src = layout.in();
        for (int t = t0; t < t1; t++) {
            for (int b = 0; b < blocks; b++) {
                long base = xOff + 4L * ((long) t * src + layout.start(b));
                int n = layout.length(b);
                float m = 0;
                for (int i = 0; i < n; i++) {
                    float v = x.get(F32, base + 4L * i);
                    m = Math.abs(v) > Math.abs(m) ? v : m;
                }
                // A8: s = max/127, codes ±127. A4: all 16 codes, s = m/−8 for the signed extreme m (Q4_0's rule:
                // the extreme lands on −8, the step is max/8 rather than max/7; s is negative when m is positive).
                int lo = eightBit[b] ? -127 : -8;
                int hi = eightBit[b] ? 127 : 7;
                float s = eightBit[b] ? Math.abs(m) / 127 : layout.activationClip() * m / -8f;
                scales.set(F32, 4L * ((long) t * blocks + b), s);
                long c0 = (long) t * in + (long) b * W4Weights.BLOCK;
                for (int i = 0; i < W4Weights.BLOCK; i++) {
                    int q = i >= n || s == 0 ? 0
                            : (int) Math.max(lo, Math.min(hi, Math.rint(x.get(F32, base + 4L * i) / s)));
                    codes.set(ValueLayout.JAVA_BYTE, c0 + i, (byte) q);
                    wide.set(F32, 4 * (c0 + i), (float) q);
                }
            }
        }
    }

    private void layoutRows(MemorySegment x, long xOff, int t0, int t1, ChannelBlocks layout) {
        int src = layout.in();
        for (int t = t0; t < t1; t++) {
            for (int b = 0; b < blocks; b++) {
                long base = xOff + 4L * ((long) t * src + layout.start(b));
                int n = layout.length(b);
                float m = signedExtreme(x, base, n);
                float s = eightBit[b] ? Math.abs(m) / 127 : layout.activationClip() * m / -8f;
                scales.set(F32, 4L * ((long) t * blocks + b), s);
                block(x, base, n, s, eightBit[b] ? -127 : -8, eightBit[b] ? 127 : 7,
                        (long) t * in + (long) b * W4Weights.BLOCK);
            }
        }
    }

    // ------------------------------------------------------------------ Vector API block steps

    /** {@code max|x|} of {@code n} floats at {@code base} (0 for none); the maximum is exact in any order. */
    private static float absMax(MemorySegment x, long base, int n) {
        int i = 0;
        float max = 0;
        if (n >= L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, base, LE).abs();
            for (i = L; i + L <= n; i += L) {
                v = v.max(FloatVector.fromMemorySegment(F, x, base + 4L * i, LE).abs());
            }
            max = v.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) {
            max = Math.max(max, Math.abs(x.get(F32, base + 4L * i)));
        }
        return max;
    }

    /**
     * The first of {@code n} floats at {@code base} with the largest magnitude, as the reference's strict-{@code >}
     * scan picks it; {@code +0} when all are zero (the reference's start value, so an all-zero A4 block gets the
     * same {@code −0} scale).
     */
    private static float signedExtreme(MemorySegment x, long base, int n) {
        float max = absMax(x, base, n);
        if (max == 0) {
            return 0f;
        }
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, base + 4L * i, LE);
            VectorMask<Float> hit = v.abs().eq(max);
            if (hit.anyTrue()) {
                return x.get(F32, base + 4L * (i + hit.firstTrue()));
            }
        }
        for (; ; i++) {
            float v = x.get(F32, base + 4L * i);
            if (Math.abs(v) == max) {
                return v;
            }
        }
    }

    /**
     * Codes and F32 codes of one block: {@code clamp(rint(x/s), lo, hi)} for its {@code n} source channels, 0 after
     * them and everywhere when {@code s == 0}. The division is the reference's F32 division; {@code rint} is
     * {@code (v + 1.5·2^23) − 1.5·2^23}, which rounds ties to even exactly as {@link Math#rint} for
     * {@code |v| < 2^22} (the sum's unit is 1) and yields {@code +0}, never {@code −0}, like {@code (float) q}.
     * {@code |x/s|} is at most about 8 or 127 here, since {@code s} comes from the block's own maximum.
     */
    private void block(MemorySegment x, long base, int n, float s, int lo, int hi, long c0) {
        int i = 0;
        if (s != 0) {
            FloatVector vs = FloatVector.broadcast(F, s);
            FloatVector vlo = FloatVector.broadcast(F, lo);
            FloatVector vhi = FloatVector.broadcast(F, hi);
            for (; i + L <= n; i += L) {
                FloatVector q = FloatVector.fromMemorySegment(F, x, base + 4L * i, LE).div(vs)
                        .add(RINT).sub(RINT).max(vlo).min(vhi);
                q.intoMemorySegment(wide, 4 * (c0 + i), LE);
                q.convertShape(VectorOperators.F2B, B, 0).intoMemorySegment(codes, c0 + i, LE);
            }
            for (; i < n; i++) {
                int q = (int) Math.max(lo, Math.min(hi, Math.rint(x.get(F32, base + 4L * i) / s)));
                codes.set(ValueLayout.JAVA_BYTE, c0 + i, (byte) q);
                wide.set(F32, 4 * (c0 + i), (float) q);
            }
        }
        if (i < W4Weights.BLOCK) {
            codes.asSlice(c0 + i, W4Weights.BLOCK - i).fill((byte) 0);
            wide.asSlice(4 * (c0 + i), 4L * (W4Weights.BLOCK - i)).fill((byte) 0);
        }
    }

    /** Starts a quantization of {@code tokens} tokens: the GEMV operand is stale until asked for again. */
    private void begin(int tokens) {
        this.tokens = tokens;
        this.operandReady = false;
    }

    /**
     * Derives token 0's operand for the {@link W4Packed} GEMV on the first call after each quantization (so a decode
     * step's matrices that share this buffer derive it once): {@link #gemvCodes()}, {@link #gemvScales()} and
     * {@link #gemvZeros()}. Vector API shapes only ({@code QuantVectors.VECTOR_OK}).
     */
    void prepareGemvOperand() {
        if (operandReady) {
            return;
        }
        if (tokens == 0) {
            throw new ShapeMismatchException("the activations hold no tokens (quantize first)");
        }
        for (int b = 0; b < blocks; b++) {
            // one pass over the block's codes: widened for the kernel, and summed for the zero point
            ShortVector sum = ShortVector.zero(S128);
            for (int c = W4Weights.BLOCK * b; c < W4Weights.BLOCK * (b + 1); c += S128.length()) {
                ShortVector q = (ShortVector) ByteVector.fromMemorySegment(B64, codes, c, LE)
                        .convertShape(VectorOperators.B2S, S128, 0);
                q.intoArray(operandCodes, c);
                sum = sum.add(q);
            }
            // |Σ| ≤ 128·127 fits a short's lanes: 16 codes per lane, at most 16·127
            operandScales[b] = scales.get(F32, 4L * b);
            operandZeros[b] = -8 * sum.reduceLanes(VectorOperators.ADD);
        }
        operandReady = true;
    }

    /**
     * Token 0's codes widened to shorts, one per channel (the {@link W4Packed} kernel broadcasts each across its
     * rows). A Java array: its accesses inline to fewer C2 nodes than a segment's. Valid after
     * {@link #prepareGemvOperand()}.
     */
    short[] gemvCodes() {
        return operandCodes;
    }

    /** Per 128-channel block of token 0: {@code s_x}. */
    float[] gemvScales() {
        return operandScales;
    }

    /** Per 128-channel block of token 0: {@code −8·Σq_x}, the zero point of {@link W4Packed}'s unsigned nibbles. */
    int[] gemvZeros() {
        return operandZeros;
    }

    /** Per block, whether its codes are A4 (within ±7): the negated precision map, for the row-lane kernel. */
    boolean[] fourBitMap() {
        return fourBit;
    }

    // ------------------------------------------------------------------ checks

    private void checkTokens(int tokens) {
        if (tokens <= 0 || tokens > maxTokens) {
            throw new ShapeMismatchException("tokens " + tokens + " outside [1, " + maxTokens + "]");
        }
    }

    private void checkLayout(MemorySegment x, long xOff, int tokens, ChannelBlocks layout) {
        if (layout.width() != in || !java.util.Arrays.equals(layout.eightBit(), eightBit)) {
            throw new ShapeMismatchException("channel layout (" + layout + ") does not match this buffer's " + in
                    + " channels and precision map");
        }
        checkTokens(tokens);
        QuantVectors.requireBytes(x, xOff, 4L * tokens * layout.in(), "activation quantize source");
    }

    /** Tokens this buffer holds at most. */
    public int maxTokens() {
        return maxTokens;
    }

    /** Tokens held by the last {@link #quantize}. */
    public int tokens() {
        return tokens;
    }

    public int in() {
        return in;
    }

    public int blocks() {
        return blocks;
    }

    /** The precision map: true where the block is A8 (a copy). */
    public boolean[] eightBit() {
        return eightBit.clone();
    }

    /** Code of channel {@code c} of token {@code t}. */
    public int code(int t, int c) {
        return codes.get(ValueLayout.JAVA_BYTE, (long) t * in + c);
    }

    /** Scale of block {@code b} of token {@code t}. */
    public float scale(int t, int b) {
        return scales.get(F32, 4L * ((long) t * blocks + b));
    }

    /** int8 codes {@code [maxTokens][in]} (device kernels). */
    public MemorySegment codes() {
        return codes;
    }

    /** The codes as F32 {@code [maxTokens][in]} (Vector API kernels). */
    MemorySegment wide() {
        return wide;
    }

    /** F32 scales {@code [maxTokens][in/128]}. */
    public MemorySegment scales() {
        return scales;
    }
}
