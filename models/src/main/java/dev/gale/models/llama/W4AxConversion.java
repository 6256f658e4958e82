package dev.gale.models.llama;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.kernels.quant.ChannelBlocks;
import dev.gale.kernels.quant.W4Weights;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.LlamaWeights;
import dev.gale.models.W4AxMatrices;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * An F32 model to W4Ax form: FMPQ's offline permutation (COMET §4.1 items 3-4) folded into the weights, then every
 * layer matrix quantized to W4 with its input's {@link ChannelBlocks} layout. The embedding, the norms and the
 * classifier stay F32 (the classifier of stories260K is the tied embedding table).
 *
 * <p><b>Where the permutation goes, so that nothing is gathered at run time.</b>
 * <ul>
 *   <li>The <i>residual stream</i> is permuted once for the whole model by {@code π}: the embedding's columns, every
 *       RMSNorm gain (attention, feed-forward, final), the input columns of {@code wq, wk, wv, w1, w3} (and of an
 *       untied classifier), and the output rows of {@code wo} and {@code w2}. Residual adds are elementwise and
 *       RMSNorm's sum of squares is order-free, so the permuted model computes the same function up to float
 *       reassociation (tested). One {@code π} serves every layer because the residual stream is shared: it ranks
 *       channels by their largest calibration {@code max|x|}/median over all norm outputs, so each matrix's outliers
 *       sit in a prefix of {@code π}, and each matrix keeps the shortest prefix holding all of its own outliers A8.</li>
 *   <li>The <i>feed-forward</i> channels of layer {@code l} are permuted by {@code σ_l} (rows of {@code w1, w3},
 *       columns of {@code w2}): SwiGLU is elementwise, so {@code w2}'s input arrives in {@code σ_l} order.</li>
 *   <li>The <i>attention output</i> ({@code wo}'s input) is not permuted: its channels are heads, and a permutation
 *       could only move whole heads or channels within a head (through {@code wv}'s rows), never gather one head's
 *       outliers next to another's. {@code wo} keeps its prefix rule in head order: the prefix up to its last outlier
 *       channel is A8.</li>
 * </ul>
 * The norm gains are not folded into the next matrix, so RMSNorm writes the permuted, scaled activations the W4Ax op
 * quantizes; the quantization is not fused into the norm (the norm's output also feeds two or three matrices with
 * different layouts, and the W4Ax op's quantize pass is one read of a row that is in cache).
 *
 * <p><b>Outlier rule.</b> Channel {@code c} of a matrix input is an outlier when its calibration {@code max|x|}
 * exceeds {@code outlierFactor} × the median channel's (COMET: outliers are "10-100×" larger; the factor is measured
 * in docs/w4a4.md). Where the width is a multiple of 128 the A8 prefix is rounded up to whole blocks (free channels in
 * the A8 block); otherwise it is exact and {@link ChannelBlocks} zero-pads.
 */
public final class W4AxConversion {
    /**
     * @param scheme        {@code w4a4} or {@code w4a8}
     * @param group         weight group size, 32, 64 or 128
     * @param fmpq          calibrate outliers (w4a4 only): permute and keep them A8; false is naive W4A4
     * @param outlierFactor the outlier threshold over the median channel
     * @param span          activation channels per 128-block (scale granularity): 32, 64 or 128
     */
    public record Options(String scheme, int group, boolean fmpq, float outlierFactor, int span) {
        public static final float DEFAULT_FACTOR = 2.5f;

        public Options {
            if (span != 32 && span != 64 && span != 128) {
                throw new IllegalArgumentException("activation span must be 32, 64 or 128, not " + span);
            }
            if (!scheme.equals("w4a4") && !scheme.equals("w4a8")) {
                throw new IllegalArgumentException("W4Ax scheme must be w4a4 or w4a8, not '" + scheme + "'");
            }
            if (group != 32 && group != 64 && group != 128) {
                throw new IllegalArgumentException("W4 group size must be 32, 64 or 128, not " + group);
            }
            if (fmpq && !scheme.equals("w4a4")) {
                throw new IllegalArgumentException("FMPQ mixes A4 and A8; " + scheme + " has one precision");
            }
            if (fmpq && !(outlierFactor > 1)) {
                throw new IllegalArgumentException("the outlier factor must be > 1, not " + outlierFactor);
            }
        }
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private W4AxConversion() {
    }

    /**
     * {@code f32} in W4Ax form. {@code stats} (from {@link Calibration#collect} on {@code f32}) is needed with FMPQ
     * and ignored without.
     */
    public static LlamaModel convert(LlamaModel f32, Calibration.Stats stats, Options o) {
        requireF32(f32);
        if (o.fmpq() && stats == null) {
            throw new IllegalArgumentException("FMPQ needs calibration statistics");
        }
        LlamaConfig c = f32.config();
        LlamaWeights w = f32.weights();
        int[] pi = identity(c.dim());
        List<int[]> sigma = new ArrayList<>();
        if (o.fmpq()) {
            float[] score = new float[c.dim()];
            for (LlamaWeights.Layer l : w.layers()) {
                for (WeightTensor site : List.of(l.wq(), l.w1())) {
                    float[] s = stats.of(site);
                    double med = Calibration.median(s);
                    for (int ch = 0; ch < s.length; ch++) {
                        score[ch] = Math.max(score[ch], (float) (s[ch] / Math.max(med, Float.MIN_NORMAL)));
                    }
                }
                sigma.add(rank(stats.of(l.w2())));
            }
            pi = rank(score);
        } else {
            for (int l = 0; l < c.layers(); l++) {
                sigma.add(identity(c.hiddenDim()));
            }
        }
        List<Buffer> backing = new ArrayList<>();
        Map<WeightTensor, W4AxMatrices.Matrix> matrices = new IdentityHashMap<>();
        try (LlamaModel permuted = permute(f32, pi, sigma)) {
            LlamaWeights pw = permuted.weights();
            WeightTensor emb = copy(pw.tokenEmbedding(), backing);
            WeightTensor cls = pw.tiedClassifier() ? emb : copy(pw.classifier(), backing);
            List<LlamaWeights.Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.layers(); i++) {
                LlamaWeights.Layer l = pw.layers().get(i);
                LlamaWeights.Layer orig = w.layers().get(i);
                int[] s = sigma.get(i);
                layers.add(new LlamaWeights.Layer(copy(l.attnNorm(), backing),
                        w4(l.wq(), orig.wq(), pi, stats, o, backing, matrices),
                        w4(l.wk(), orig.wk(), pi, stats, o, backing, matrices),
                        w4(l.wv(), orig.wv(), pi, stats, o, backing, matrices),
                        w4(l.wo(), orig.wo(), identity(c.dim()), stats, o, backing, matrices),
                        copy(l.ffnNorm(), backing),
                        w4(l.w1(), orig.w1(), pi, stats, o, backing, matrices),
                        w4(l.w2(), orig.w2(), s, stats, o, backing, matrices),
                        w4(l.w3(), orig.w3(), pi, stats, o, backing, matrices)));
            }
            WeightTensor norm = copy(pw.finalNorm(), backing);
            W4AxMatrices info = new W4AxMatrices(o.scheme(), o.group(), o.span(), o.fmpq(),
                    o.fmpq() ? o.outlierFactor() : 0f, pi, sigma, matrices);
            return new LlamaModel(c, new LlamaWeights(emb, layers, norm, cls, backing), f32.tokenizer(),
                    Optional.of(info));
        } catch (RuntimeException e) {
            backing.forEach(Buffer::close);
            throw e;
        }
    }

    /**
     * {@code f32} with its residual channels in order {@code pi} and layer {@code l}'s feed-forward channels in
     * order {@code ffn.get(l)} ({@code order[p]} is the original channel at {@code p}): the same function up to
     * float reassociation. Every tensor is a new F32 buffer.
     */
    public static LlamaModel permute(LlamaModel f32, int[] pi, List<int[]> ffn) {
        requireF32(f32);
        LlamaConfig c = f32.config();
        requirePermutation(pi, c.dim(), "residual order");
        if (ffn.size() != c.layers()) {
            throw new IllegalArgumentException(ffn.size() + " feed-forward orders for " + c.layers() + " layers");
        }
        LlamaWeights w = f32.weights();
        List<Buffer> backing = new ArrayList<>();
        try {
            WeightTensor emb = permuted(w.tokenEmbedding(), null, pi, backing);
            WeightTensor cls = w.tiedClassifier() ? emb : permuted(w.classifier(), null, pi, backing);
            List<LlamaWeights.Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.layers(); i++) {
                LlamaWeights.Layer l = w.layers().get(i);
                int[] s = ffn.get(i);
                requirePermutation(s, c.hiddenDim(), "layer " + i + " feed-forward order");
                layers.add(new LlamaWeights.Layer(permuted(l.attnNorm(), null, pi, backing),
                        permuted(l.wq(), null, pi, backing), permuted(l.wk(), null, pi, backing),
                        permuted(l.wv(), null, pi, backing), permuted(l.wo(), pi, null, backing),
                        permuted(l.ffnNorm(), null, pi, backing), permuted(l.w1(), s, pi, backing),
                        permuted(l.w2(), pi, s, backing), permuted(l.w3(), s, pi, backing)));
            }
            WeightTensor norm = permuted(w.finalNorm(), null, pi, backing);
            return new LlamaModel(c, new LlamaWeights(emb, layers, norm, cls, backing), f32.tokenizer());
        } catch (RuntimeException e) {
            backing.forEach(Buffer::close);
            throw e;
        }
    }

    /** The W4 form of permuted matrix {@code t} ({@code orig}: the same matrix before, for its statistics). */
    private static WeightTensor w4(WeightTensor t, WeightTensor orig, int[] inputOrder, Calibration.Stats stats,
            Options o, List<Buffer> backing, Map<WeightTensor, W4AxMatrices.Matrix> matrices) {
        int rows = (int) t.rows();
        int in = (int) t.rowLength();
        int a8 = o.scheme().equals("w4a8") ? in : o.fmpq() ? eightBitPrefix(stats.of(orig), inputOrder,
                o.outlierFactor(), o.span()) : 0;
        ChannelBlocks layout = ChannelBlocks.split(in, a8, o.span());
        int width = layout.width();
        Buffer codes = Buffers.allocate(t.name() + ".w4", DType.I8, (long) rows * width / 2);
        backing.add(codes);
        Buffer scales = Buffers.allocate(t.name() + ".w4_scale", DType.F32, (long) rows * (width / o.group()));
        backing.add(scales);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment spread = arena.allocate(4L * rows * width, 64);
            layout.spread(t.data().segment(), 0, spread, 0, rows);
            W4Weights q = W4Weights.quantizeFullRange(spread, 0, rows, width, o.group(), arena);
            MemorySegment.copy(q.codes(), 0, codes.segment(), 0, codes.segment().byteSize());
            MemorySegment.copy(q.scales(), 0, scales.segment(), 0, scales.segment().byteSize());
        }
        WeightTensor ct = new WeightTensor(t.name(), WeightType.I8, new long[] {rows, width / 2}, codes);
        matrices.put(ct, new W4AxMatrices.Matrix(
                W4Weights.of(rows, width, o.group(), codes.segment(), scales.segment()), layout));
        return ct;
    }

    /**
     * The A8 prefix of an input in {@code order}: up to and including the last outlier channel, rounded up to whole
     * blocks of {@code span} when the width is a multiple of {@code span} (no padding either way).
     */
    static int eightBitPrefix(float[] maxAbs, int[] order, float factor, int span) {
        double threshold = factor * Calibration.median(maxAbs);
        int prefix = 0;
        for (int p = 0; p < order.length; p++) {
            float v = Math.abs(maxAbs[order[p]]);
            if (v > threshold || Float.isNaN(v)) {
                prefix = p + 1;
            }
        }
        if (order.length % span == 0) {
            prefix = (prefix + span - 1) / span * span;
        }
        return prefix;
    }

    /** Channels by descending {@code |score|} (NaN first), ties by index: {@code order[p]} is the channel at p. */
    static int[] rank(float[] score) {
        Integer[] order = new Integer[score.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> {
            int cmp = Float.compare(Math.abs(score[b]), Math.abs(score[a]));
            return cmp != 0 ? cmp : Integer.compare(a, b);
        });
        return Arrays.stream(order).mapToInt(Integer::intValue).toArray();
    }

    static int[] identity(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        return p;
    }

    /** Whether {@code order} is a permutation of {@code 0..n-1}; the message says why not, else null. */
    public static String permutationProblem(int[] order, int n) {
        if (order.length != n) {
            return order.length + " entries for " + n + " channels";
        }
        boolean[] seen = new boolean[n];
        for (int p = 0; p < n; p++) {
            int ch = order[p];
            if (ch < 0 || ch >= n) {
                return "entry " + p + " is " + ch + ", outside 0.." + (n - 1);
            }
            if (seen[ch]) {
                return "channel " + ch + " appears twice (again at entry " + p + ")";
            }
            seen[ch] = true;
        }
        return null;
    }

    private static void requirePermutation(int[] order, int n, String what) {
        String p = permutationProblem(order, n);
        if (p != null) {
            throw new IllegalArgumentException(what + " is not a permutation: " + p);
        }
    }

    private static void requireF32(LlamaModel m) {
        if (m.w4ax().isPresent()) {
            throw new IllegalArgumentException("the model is already W4Ax (" + m.w4ax().get().describe() + ")");
        }
        for (WeightTensor t : m.weights().all()) {
            if (t.type() != WeightType.F32) {
                throw new IllegalArgumentException("W4Ax conversion reads F32 models; " + t + " is "
                        + t.type().name().toLowerCase(Locale.ROOT) + " (convert from the F32 file)");
            }
        }
    }

    /** A copy of F32 {@code t}, rows in {@code rowOrder} and columns in {@code colOrder} (null: as is). */
    private static WeightTensor permuted(WeightTensor t, int[] rowOrder, int[] colOrder, List<Buffer> backing) {
        int rows = (int) t.rows();
        int cols = (int) t.rowLength();
        Buffer out = Buffers.allocate(t.name(), DType.F32, (long) rows * cols);
        backing.add(out);
        MemorySegment src = t.data().segment();
        MemorySegment dst = out.segment();
        for (int r = 0; r < rows; r++) {
            long s = 4L * (long) (rowOrder == null ? r : rowOrder[r]) * cols;
            long d = 4L * (long) r * cols;
            for (int ch = 0; ch < cols; ch++) {
                dst.set(F32, d + 4L * ch, src.get(F32, s + 4L * (colOrder == null ? ch : colOrder[ch])));
            }
        }
        return new WeightTensor(t.name(), WeightType.F32, t.shape(), out);
    }

    private static WeightTensor copy(WeightTensor t, List<Buffer> backing) {
        return permuted(t, null, null, backing);
    }
}
