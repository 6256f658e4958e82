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
 * layer matrix quantized to W4 with its input's {@link ChannelBlocks} layout. The norms stay F32; an untied
 * classifier and its embedding table become Q8_0, a tied table stays F32 (stories260K's and Llama-3.2-1B's are
 * tied).
 *
 * <p><b>Where the permutation goes, so that nothing is gathered at run time.</b>
 * <ul>
 *   <li>The <i>residual stream</i> is permuted once for the whole model by {@code π}: the embedding's columns, every
 *       RMSNorm gain (attention, feed-forward, final), the input columns of {@code wq, wk, wv, w1, w3} (and of an
 *       untied classifier), and the output rows of {@code wo} and {@code w2}. Residual adds are elementwise and
 *       RMSNorm's sum of squares is order-free, so the permuted model computes the same function up to float
 *       reassociation (tested). One {@code π} serves every layer because the residual stream is shared: it puts
 *       first, by descending score, the channels whose largest calibration {@code max|x|}/median over all norm
 *       outputs passes the outlier rule, and leaves the others in their original order ({@link #outliersFirst}), so
 *       each matrix's outliers sit in a prefix of {@code π}, and each matrix keeps the shortest prefix holding all of
 *       its own outliers A8.</li>
 *   <li>The <i>feed-forward</i> channels of layer {@code l} are permuted by {@code σ_l} (rows of {@code w1, w3},
 *       columns of {@code w2}), the same rule on {@code w2}'s input: SwiGLU is elementwise, so {@code w2}'s input
 *       arrives in {@code σ_l} order.</li>
 *   <li>The <i>attention output</i> ({@code wo}'s input) is not permuted: its channels are heads, and a permutation
 *       could only move whole heads or channels within a head (through {@code wv}'s rows), never gather one head's
 *       outliers next to another's. {@code wo} keeps its prefix rule in head order: the prefix up to its last outlier
 *       channel is A8.</li>
 * </ul>
 * The norm gains are not folded into the next matrix, so RMSNorm writes the permuted, scaled activations the W4Ax op
 * quantizes; the quantization is not fused into the norm (the norm's output also feeds two or three matrices with
 * different layouts, and the W4Ax op's quantize pass is one read of a row that is in cache).
 *
 * <p><b>Weights and activations beyond FMPQ</b> (docs/w4a4.md measures each): the weights' group scales come from a
 * clip search weighted by the calibration {@code E[x²]} ({@link Options#clip}); A4 activation blocks are clipped at
 * {@link Options#activationClip} of their extreme (a plan field the quantizer reads); SmoothQuant's migration is
 * available ({@link Options#smooth}, {@link #smooth}) but did not help stories260K.
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
     * @param clip          weights: each group's scale by a clip search minimising the group's squared error weighted
     *                      by the calibration {@code E[x²]} of its input channels when statistics are given, else
     *                      unweighted ({@link W4Weights#quantizeClipped}); false: the group's extreme on −8
     * @param smooth        activation smoothing exponent {@code α} in [0, 1) (0 = off): every matrix input channel is
     *                      divided by {@code s_c = max|x_c|^α / max|W_c|^(1−α)}, the matrices' columns multiplied by
     *                      it, the division folded into the producer (see {@link #smooth})
     * @param activationClip A4 activation blocks' scale ratio in (0, 1] ({@link ChannelBlocks#activationClip()}):
     *                      1 maps the block's extreme to −8, below 1 saturates the extremes
     */
    public record Options(String scheme, int group, boolean fmpq, float outlierFactor, int span, boolean clip,
            float smooth, float activationClip) {
        public static final float DEFAULT_FACTOR = 2.5f;
        /** The A4 activation clip ratio measured best on stories260K (docs/w4a4.md). */
        public static final float DEFAULT_ACTIVATION_CLIP = 0.9f;

        /** Plain rounding, no smoothing, unclipped activations. */
        public Options(String scheme, int group, boolean fmpq, float outlierFactor, int span) {
            this(scheme, group, fmpq, outlierFactor, span, false, 0f, 1f);
        }

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
            if (!(activationClip > 0 && activationClip <= 1)) {
                throw new IllegalArgumentException("the activation clip ratio must be in (0, 1], not "
                        + activationClip);
            }
            if (!(smooth >= 0 && smooth < 1)) {
                throw new IllegalArgumentException("the smoothing exponent must be in [0, 1), not " + smooth);
            }
        }

        /** Whether the conversion needs calibration statistics (the clip search only uses them when given). */
        public boolean calibrated() {
            return fmpq || smooth > 0;
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
        if (o.calibrated() && stats == null) {
            throw new IllegalArgumentException((o.fmpq() ? "FMPQ" : "smoothing") + " needs calibration statistics");
        }
        if (o.smooth() > 0) {
            Smoothed sm = smooth(f32, stats, o.smooth());
            try (LlamaModel m = sm.model()) {
                return convertSmoothed(m, sm.stats(), o);
            }
        }
        return convertSmoothed(f32, stats, o);
    }

    private static LlamaModel convertSmoothed(LlamaModel f32, Calibration.Stats stats, Options o) {
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
                sigma.add(outliersFirst(ratios(stats.of(l.w2())), o.outlierFactor()));
            }
            pi = outliersFirst(score, o.outlierFactor());
        } else {
            for (int l = 0; l < c.layers(); l++) {
                sigma.add(identity(c.hiddenDim()));
            }
        }
        List<Buffer> backing = new ArrayList<>();
        Map<WeightTensor, W4AxMatrices.Matrix> matrices = new IdentityHashMap<>();
        try (LlamaModel permuted = permute(f32, pi, sigma)) {
            LlamaWeights pw = permuted.weights();
            // An untied classifier (and its embedding table) is stored Q8_0, as llama.cpp keeps the output matrix
            // above 4 bits: in F32 a Llama-3-8B classifier alone is 2.1 GB read per token, 3.4× what its Q8_0 form
            // reads. A tied table stays F32, so the models the quality table measures are unchanged.
            boolean tied = pw.tiedClassifier();
            WeightTensor emb = tied ? copy(pw.tokenEmbedding(), backing)
                    : WeightQuantizer.matrix(pw.tokenEmbedding(), WeightType.Q8_0, backing);
            WeightTensor cls = tied ? emb : WeightQuantizer.matrix(pw.classifier(), WeightType.Q8_0, backing);
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
            W4AxMatrices info = new W4AxMatrices(o.scheme(), o.group(), o.span(), o.activationClip(), o.fmpq(),
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
        ChannelBlocks layout = ChannelBlocks.split(in, a8, o.span()).withActivationClip(o.activationClip());
        int width = layout.width();
        Buffer codes = Buffers.allocate(t.name() + ".w4", DType.I8, (long) rows * width / 2);
        backing.add(codes);
        Buffer scales = Buffers.allocate(t.name() + ".w4_scale", DType.F32, (long) rows * (width / o.group()));
        backing.add(scales);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment spread = arena.allocate(4L * rows * width, 64);
            layout.spread(t.data().segment(), 0, spread, 0, rows);
            W4Weights q;
            if (o.clip()) {
                float[] weights = null;
                if (stats != null && !stats.meanSquare().isEmpty()) {
                    float[] importance = new float[in];
                    float[] ms = stats.meanSquareOf(orig);
                    for (int p = 0; p < in; p++) {
                        importance[p] = ms[inputOrder[p]];
                    }
                    MemorySegment spreadImportance = arena.allocate(4L * width, 64);
                    layout.spread(MemorySegment.ofArray(importance), 0, spreadImportance, 0, 1);
                    weights = spreadImportance.toArray(ValueLayout.JAVA_FLOAT);
                }
                q = W4Weights.quantizeClipped(spread, 0, rows, width, o.group(), weights, arena);
            } else {
                q = W4Weights.quantizeFullRange(spread, 0, rows, width, o.group(), arena);
            }
            MemorySegment.copy(q.codes(), 0, codes.segment(), 0, codes.segment().byteSize());
            MemorySegment.copy(q.scales(), 0, scales.segment(), 0, scales.segment().byteSize());
        }
        WeightTensor ct = new WeightTensor(t.name(), WeightType.I8, new long[] {rows, width / 2}, codes);
        matrices.put(ct, new W4AxMatrices.Matrix(
                W4Weights.of(rows, width, o.group(), codes.segment(), scales.segment()), layout));
        return ct;
    }

    /** A smoothed F32 model and its calibration statistics, keyed by its own matrices. */
    record Smoothed(LlamaModel model, Calibration.Stats stats) {
    }

    /**
     * SmoothQuant's migration (papers.md), folded offline: for each matrix input, channel {@code c} is divided by
     * {@code s_c = max|x_c|^α / max|W_c|^(1−α)} ({@code max|W_c|} over the columns of every matrix reading that input)
     * and the columns multiplied by it, so {@code W·x} is unchanged up to rounding. The division is folded into the
     * input's producer, never computed at run time:
     * <ul>
     *   <li>attention and feed-forward norm outputs ({@code wq wk wv}, {@code w1 w3}): the RMSNorm gain;</li>
     *   <li>{@code w2}'s input {@code silu(w1·x) ⊙ (w3·x)}: the rows of {@code w3} (the product is linear in it);</li>
     *   <li>{@code wo}'s input, the attention output: the rows of {@code wv} (each head's output is a convex combination
     *       of its KV head's values), one scale per KV channel shared by the query heads reading it.</li>
     * </ul>
     * Large activation channels shrink (A4 scales follow the bulk) and their weight columns grow (their relative
     * rounding error shrinks): both sides of the product share the difficulty, {@code α} sets the split. The
     * statistics are rescaled the same way ({@code max|x|/s}, {@code E[x²]/s²}), so FMPQ's outlier rule and the
     * weights' clip search see the activations the smoothed model multiplies. A channel with a zero statistic keeps
     * {@code s = 1}.
     */
    static Smoothed smooth(LlamaModel f32, Calibration.Stats stats, float alpha) {
        LlamaConfig c = f32.config();
        LlamaWeights w = f32.weights();
        List<Buffer> backing = new ArrayList<>();
        Map<WeightTensor, float[]> max = new IdentityHashMap<>();
        Map<WeightTensor, float[]> ms = new IdentityHashMap<>();
        try {
            WeightTensor emb = copy(w.tokenEmbedding(), backing);
            WeightTensor cls = w.tiedClassifier() ? emb : copy(w.classifier(), backing);
            List<LlamaWeights.Layer> layers = new ArrayList<>();
            int hd = c.headDim();
            for (LlamaWeights.Layer l : w.layers()) {
                float[] sa = scales(stats.of(l.wq()), alpha, l.wq(), l.wk(), l.wv());
                float[] sf = scales(stats.of(l.w1()), alpha, l.w1(), l.w3());
                float[] sh = scales(stats.of(l.w2()), alpha, l.w2());
                // wo: one scale per KV channel j = (kvHead, d), from every query head reading it
                float[] oMax = stats.of(l.wo());
                float[] kvMax = new float[c.kvDim()];
                float[] kvW = new float[c.kvDim()];
                float[] woCol = columnMax(l.wo());
                for (int q = 0; q < oMax.length; q++) {
                    int j = (q / hd) / c.kvMul() * hd + q % hd;
                    kvMax[j] = Math.max(kvMax[j], oMax[q]);
                    kvW[j] = Math.max(kvW[j], woCol[q]);
                }
                float[] sv = scales(kvMax, kvW, alpha);
                float[] so = new float[oMax.length];
                for (int q = 0; q < so.length; q++) {
                    so[q] = sv[(q / hd) / c.kvMul() * hd + q % hd];
                }
                LlamaWeights.Layer n = new LlamaWeights.Layer(
                        scaled(l.attnNorm(), null, inverse(sa), backing),
                        scaled(l.wq(), null, sa, backing), scaled(l.wk(), null, sa, backing),
                        scaled(l.wv(), inverse(sv), sa, backing), scaled(l.wo(), null, so, backing),
                        scaled(l.ffnNorm(), null, inverse(sf), backing),
                        scaled(l.w1(), null, sf, backing), scaled(l.w2(), null, sh, backing),
                        scaled(l.w3(), inverse(sh), sf, backing));
                layers.add(n);
                for (var e : List.of(Map.entry(List.of(0, 1, 2), sa), Map.entry(List.of(3), so),
                        Map.entry(List.of(4, 6), sf), Map.entry(List.of(5), sh))) {
                    WeightTensor[] before = {l.wq(), l.wk(), l.wv(), l.wo(), l.w1(), l.w2(), l.w3()};
                    WeightTensor[] after = {n.wq(), n.wk(), n.wv(), n.wo(), n.w1(), n.w2(), n.w3()};
                    for (int i : e.getKey()) {
                        max.put(after[i], divided(stats.of(before[i]), e.getValue(), 1));
                        if (!stats.meanSquare().isEmpty()) {
                            ms.put(after[i], divided(stats.meanSquareOf(before[i]), e.getValue(), 2));
                        }
                    }
                }
            }
            WeightTensor norm = copy(w.finalNorm(), backing);
            LlamaModel m = new LlamaModel(c, new LlamaWeights(emb, layers, norm, cls, backing), f32.tokenizer());
            return new Smoothed(m, new Calibration.Stats(max, ms, stats.tokens()));
        } catch (RuntimeException e) {
            backing.forEach(Buffer::close);
            throw e;
        }
    }

    /** Smoothing scales for an input read by {@code readers}. */
    private static float[] scales(float[] act, float alpha, WeightTensor... readers) {
        float[] wmax = new float[act.length];
        for (WeightTensor t : readers) {
            float[] m = columnMax(t);
            for (int ch = 0; ch < wmax.length; ch++) {
                wmax[ch] = Math.max(wmax[ch], m[ch]);
            }
        }
        return scales(act, wmax, alpha);
    }

    /** {@code s_c = act_c^α / wmax_c^(1−α)}, 1 where either is zero or not finite. */
    private static float[] scales(float[] act, float[] wmax, float alpha) {
        float[] s = new float[act.length];
        for (int ch = 0; ch < s.length; ch++) {
            double v = Math.pow(act[ch], alpha) / Math.pow(wmax[ch], 1 - alpha);
            s[ch] = act[ch] > 0 && wmax[ch] > 0 && Double.isFinite(v) && v > 0 ? (float) v : 1f;
        }
        return s;
    }

    private static float[] columnMax(WeightTensor t) {
        int rows = (int) t.rows();
        int cols = (int) t.rowLength();
        float[] m = new float[cols];
        MemorySegment src = t.data().segment();
        for (int r = 0; r < rows; r++) {
            for (int ch = 0; ch < cols; ch++) {
                m[ch] = Math.max(m[ch], Math.abs(src.get(F32, 4L * ((long) r * cols + ch))));
            }
        }
        return m;
    }

    private static float[] inverse(float[] s) {
        float[] r = new float[s.length];
        for (int i = 0; i < s.length; i++) {
            r[i] = 1 / s[i];
        }
        return r;
    }

    /** {@code v / s^power}, elementwise. */
    private static float[] divided(float[] v, float[] s, int power) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = (float) (v[i] / Math.pow(s[i], power));
        }
        return r;
    }

    /** A copy of F32 {@code t} with {@code w[r][c]·rowScale[r]·colScale[c]} (null: 1). */
    private static WeightTensor scaled(WeightTensor t, float[] rowScale, float[] colScale, List<Buffer> backing) {
        int rows = (int) t.rows();
        int cols = (int) t.rowLength();
        Buffer out = Buffers.allocate(t.name(), DType.F32, (long) rows * cols);
        backing.add(out);
        MemorySegment src = t.data().segment();
        MemorySegment dst = out.segment();
        for (int r = 0; r < rows; r++) {
            for (int ch = 0; ch < cols; ch++) {
                long o = 4L * ((long) r * cols + ch);
                dst.set(F32, o, src.get(F32, o) * (rowScale == null ? 1 : rowScale[r])
                        * (colScale == null ? 1 : colScale[ch]));
            }
        }
        return new WeightTensor(t.name(), WeightType.F32, t.shape(), out);
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

    /** {@code v[c] / median(v)}. */
    static float[] ratios(float[] v) {
        double med = Math.max(Calibration.median(v), Float.MIN_NORMAL);
        float[] r = new float[v.length];
        for (int c = 0; c < v.length; c++) {
            r[c] = (float) (Math.abs(v[c]) / med);
        }
        return r;
    }

    /**
     * The channels whose {@code ratio} exceeds {@code factor} (or is NaN), by descending ratio, then every other
     * channel in its original order. Only the outliers move: sorting the A4 rest by magnitude as well (so that each
     * 32-channel scale covers channels of like size) measured worse on stories260K, 30.51 against 30.23 with the
     * outliers alone moved and 30.88 with nothing moved (docs/w4a4.md); with no outlier the order is the identity.
     */
    static int[] outliersFirst(float[] ratio, float factor) {
        int[] ranked = rank(ratio);
        int[] order = new int[ratio.length];
        boolean[] taken = new boolean[ratio.length];
        int p = 0;
        for (int ch : ranked) {
            if (ratio[ch] > factor || Float.isNaN(ratio[ch])) {
                order[p++] = ch;
                taken[ch] = true;
            }
        }
        for (int ch = 0; ch < ratio.length; ch++) {
            if (!taken[ch]) {
                order[p++] = ch;
            }
        }
        return order;
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
