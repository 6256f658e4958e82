package dev.gale.models.gguf;

import dev.gale.core.buffer.Buffer;
import dev.gale.kernels.quant.ChannelBlocks;
import dev.gale.kernels.quant.W4Weights;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.LlamaWeights;
import dev.gale.models.TensorNames;
import dev.gale.models.W4AxMatrices;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import dev.gale.models.format.ModelFormatException;
import dev.gale.models.llama.W4AxConversion;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Gale's W4Ax GGUF files (written by {@code gale calibrate}): the FMPQ-permuted model with each layer matrix as its
 * packed W4 codes (tensor {@code <name>}, type I8, {@code [rows, width/2]}) and scales ({@code <name>.scale}, F32,
 * {@code [rows, width/group]}), and these metadata keys (documented in docs/w4a4.md):
 * <ul>
 *   <li>{@code gale.w4ax.version} (UINT32, 1), {@code gale.w4ax.scheme} ({@code w4a4}/{@code w4a8}),
 *       {@code gale.w4ax.group} (UINT32: 32, 64 or 128), {@code gale.w4ax.activation_span} (UINT32: 32, 64 or
 *       128 channels per activation scale), {@code gale.w4ax.fmpq} (BOOL),
 *       {@code gale.w4ax.outlier_factor} (FLOAT32, 0 without FMPQ), {@code gale.w4ax.activation_clip} (FLOAT32 in
 *       (0, 1], the A4 activation blocks' clip ratio; optional, 1 when absent);</li>
 *   <li>{@code gale.fmpq.residual_order} (ARRAY of INT32, {@code dim} entries): the original residual channel at
 *       each position, and {@code gale.fmpq.blk.N.ffn_order} (ARRAY of INT32, {@code hidden} entries) per layer;</li>
 *   <li>{@code gale.w4ax.<tensor>.a8_channels} (UINT32) per matrix: its input's leading channels kept A8, which with
 *       the input width fixes the {@link ChannelBlocks} layout and so the codes' width.</li>
 * </ul>
 * The loader checks every key against the tensors (permutations are permutations of the config's widths, each
 * matrix's codes and scales have the shape its layout and group imply) and rejects a mismatch with a
 * {@link ModelFormatException} naming the file, the key or tensor, and its byte offset. llama.cpp cannot run these
 * files (its I8 type is no matmul weight).
 */
public final class W4AxGguf {
    public static final String VERSION = "gale.w4ax.version";
    public static final String SCHEME = "gale.w4ax.scheme";
    public static final String GROUP = "gale.w4ax.group";
    public static final String FMPQ = "gale.w4ax.fmpq";
    public static final String SPAN = "gale.w4ax.activation_span";
    public static final String FACTOR = "gale.w4ax.outlier_factor";
    /** The A4 activation blocks' clip ratio, FLOAT32 in (0, 1]; absent in files written before it: 1. */
    public static final String ACTIVATION_CLIP = "gale.w4ax.activation_clip";
    public static final String RESIDUAL_ORDER = "gale.fmpq.residual_order";
    private static final String[] MATRICES = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down",
        "ffn_up"};

    private W4AxGguf() {
    }

    public static String ffnOrderKey(int layer) {
        return "gale.fmpq.blk." + layer + ".ffn_order";
    }

    public static String a8Key(String tensor) {
        return "gale.w4ax." + tensor + ".a8_channels";
    }

    public static String scaleName(String tensor) {
        return tensor + ".scale";
    }

    static boolean present(GgufMetadata m) {
        return m.has(VERSION);
    }

    /** Writes W4Ax {@code model} (from {@link W4AxConversion#convert}) to {@code out}. */
    public static void write(LlamaModel model, Path out) {
        W4AxMatrices x = model.w4ax().orElseThrow(() -> new IllegalArgumentException("the model is not W4Ax"));
        LlamaConfig c = model.config();
        GgufWriter w = new GgufWriter();
        LlamaGguf.putConfig(w, c, WeightType.F32);
        model.tokenizer().ifPresent(t -> GgufVocabulary.write(t, w));
        w.put(VERSION, GgufValue.u32(1)).put(SCHEME, GgufValue.string(x.scheme())).put(GROUP, GgufValue.u32(x.group()))
                .put(SPAN, GgufValue.u32(x.span())).put(ACTIVATION_CLIP, GgufValue.f32(x.activationClip()))
                .put(FMPQ, new GgufValue(GgufType.BOOL, x.fmpq())).put(FACTOR, GgufValue.f32(x.outlierFactor()))
                .put(RESIDUAL_ORDER, ints(x.residualOrder()));
        for (int l = 0; l < c.layers(); l++) {
            w.put(ffnOrderKey(l), ints(x.ffnOrder().get(l)));
        }
        for (WeightTensor t : model.weights().all()) {
            W4AxMatrices.Matrix m = x.matrices().get(t);
            if (m == null) {
                w.tensor(t.name(), t.type(), t.shape(), dst -> MemorySegment.copy(t.data().segment(), 0, dst, 0,
                        dst.byteSize()));
                continue;
            }
            W4Weights ww = m.weights();
            w.put(a8Key(t.name()), GgufValue.u32(m.layout().eightBitChannels()));
            w.tensor(t.name(), WeightType.I8, t.shape(), dst -> MemorySegment.copy(ww.codes(), 0, dst, 0,
                    dst.byteSize()));
            w.tensor(scaleName(t.name()), WeightType.F32, new long[] {ww.rows(), ww.in() / ww.group()},
                    dst -> MemorySegment.copy(ww.scales(), 0, dst, 0, dst.byteSize()));
        }
        w.write(out);
    }

    private static GgufValue ints(int[] v) {
        return GgufValue.array(GgufType.INT32, Arrays.stream(v).mapToObj(i -> (Object) (long) i).toList());
    }

    /** The W4Ax model in {@code g} (its config already read), every key checked against the tensors. */
    static LlamaModel load(GgufFile g, LlamaConfig c, java.util.Optional<dev.gale.models.tokenizer.Tokenizer> tok) {
        GgufMetadata m = g.metadata();
        long version = m.integer(VERSION, 1, 1);
        String scheme = m.string(SCHEME);
        if (!scheme.equals("w4a4") && !scheme.equals("w4a8")) {
            throw m.error(SCHEME, "scheme '" + scheme + "' is not w4a4 or w4a8");
        }
        int group = (int) m.integer(GROUP, 32, 128);
        if (group != 32 && group != 64 && group != 128) {
            throw m.error(GROUP, "group " + group + " is not 32, 64 or 128");
        }
        int span = (int) m.integer(SPAN, 32, 128);
        if (span != 32 && span != 64 && span != 128) {
            throw m.error(SPAN, "activation span " + span + " is not 32, 64 or 128");
        }
        float clip = m.float32(ACTIVATION_CLIP, 1f);
        if (!(clip > 0 && clip <= 1)) {
            throw m.error(ACTIVATION_CLIP, "activation clip ratio " + clip + " is not in (0, 1]");
        }
        GgufValue fv = m.get(FMPQ);
        if (fv.type() != GgufType.BOOL) {
            throw m.error(FMPQ, "expected BOOL, found " + fv.type());
        }
        boolean fmpq = (Boolean) fv.value();
        float factor = m.float32(FACTOR, Float.NaN);
        if (fmpq ? !(factor > 1) : factor != 0) {
            throw m.error(FACTOR, "outlier factor " + factor + (fmpq ? " must be > 1 with FMPQ" : " must be 0 without"
                    + " FMPQ"));
        }
        if (fmpq && !scheme.equals("w4a4")) {
            throw m.error(FMPQ, "FMPQ with scheme " + scheme);
        }
        int[] residual = order(m, RESIDUAL_ORDER, c.dim());
        List<int[]> ffn = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            ffn.add(order(m, ffnOrderKey(l), c.hiddenDim()));
        }
        List<Buffer> backing = new ArrayList<>();
        Map<WeightTensor, W4AxMatrices.Matrix> matrices = new IdentityHashMap<>();
        try {
            long dim = c.dim();
            long hid = c.hiddenDim();
            WeightTensor embd = table(g, backing, TensorNames.TOKEN_EMBEDDING, c.vocab(), dim);
            List<LlamaWeights.Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.layers(); i++) {
                WeightTensor[] mats = new WeightTensor[MATRICES.length];
                long[][] shapes = {{dim, dim}, {c.kvDim(), dim}, {c.kvDim(), dim}, {dim, dim}, {hid, dim},
                    {dim, hid}, {hid, dim}};
                for (int k = 0; k < MATRICES.length; k++) {
                    mats[k] = matrix(g, backing, matrices, TensorNames.layer(i, MATRICES[k]), shapes[k], group,
                            span, clip, scheme, fmpq);
                }
                layers.add(new LlamaWeights.Layer(f32(g, backing, TensorNames.layer(i, "attn_norm"), dim),
                        mats[0], mats[1], mats[2], mats[3], f32(g, backing, TensorNames.layer(i, "ffn_norm"), dim),
                        mats[4], mats[5], mats[6]));
            }
            WeightTensor norm = f32(g, backing, TensorNames.FINAL_NORM, dim);
            WeightTensor cls = c.sharedClassifier() ? embd : table(g, backing, TensorNames.CLASSIFIER, c.vocab(), dim);
            W4AxMatrices info = new W4AxMatrices(scheme, group, span, clip, fmpq, factor, residual, ffn, matrices);
            return new LlamaModel(c, new LlamaWeights(embd, layers, norm, cls, backing), tok,
                    java.util.Optional.of(info));
        } catch (RuntimeException e) {
            backing.forEach(Buffer::close);
            throw e;
        }
    }

    /** An INT32 array key that must be a permutation of {@code 0..n-1}. */
    private static int[] order(GgufMetadata m, String key, int n) {
        GgufValue.GgufArray a = m.array(key, GgufType.INT32);
        int[] v = new int[a.values().size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (int) (long) (Long) a.values().get(i);
        }
        String problem = W4AxConversion.permutationProblem(v, n);
        if (problem != null) {
            throw m.error(key, "not a permutation of the " + n + " channels: " + problem);
        }
        return v;
    }

    private static WeightTensor f32(GgufFile g, List<Buffer> backing, String name, long... shape) {
        return mapped(g, backing, name, shape, WeightType.F32);
    }

    /**
     * The token table or the classifier: F32, or Q8_0 where the conversion quantized an untied pair (a tied table
     * stays F32; both are accepted so a file is read as written).
     */
    private static WeightTensor table(GgufFile g, List<Buffer> backing, String name, long... shape) {
        return mapped(g, backing, name, shape, WeightType.F32, WeightType.Q8_0);
    }

    private static WeightTensor mapped(GgufFile g, List<Buffer> backing, String name, long[] shape,
            WeightType... types) {
        GgufTensorInfo t = g.tensor(name);
        if (!Arrays.asList(types).contains(t.type()) || !Arrays.equals(t.shape(), shape)) {
            throw new ModelFormatException(g.path(), name, t.infoOffset(), t.type() + " " + Arrays.toString(t.shape())
                    + " is not the " + Arrays.toString(types) + " " + Arrays.toString(shape) + " a W4Ax file keeps");
        }
        WeightTensor w = g.map(name);
        backing.add(w.data());
        return w;
    }

    /** Matrix {@code name} of logical {@code shape} [rows, in]: its codes and scales, checked against its layout. */
    private static WeightTensor matrix(GgufFile g, List<Buffer> backing, Map<WeightTensor, W4AxMatrices.Matrix> out,
            String name, long[] shape, int group, int span, float clip, String scheme, boolean fmpq) {
        GgufMetadata m = g.metadata();
        int rows = (int) shape[0];
        int in = (int) shape[1];
        String key = a8Key(name);
        int a8 = (int) m.integer(key, 0, in);
        if (scheme.equals("w4a8") && a8 != in || scheme.equals("w4a4") && !fmpq && a8 != 0) {
            throw m.error(key, a8 + " A8 channels of " + in + " contradicts scheme " + scheme
                    + (fmpq ? " with" : " without") + " FMPQ");
        }
        ChannelBlocks layout = ChannelBlocks.split(in, a8, span).withActivationClip(clip);
        long[] codesShape = {rows, layout.width() / 2};
        GgufTensorInfo ci = g.tensor(name);
        if (ci.type() != WeightType.I8 || !Arrays.equals(ci.shape(), codesShape)) {
            throw new ModelFormatException(g.path(), name, ci.infoOffset(), ci.type() + " " + Arrays.toString(
                    ci.shape()) + " is not the I8 " + Arrays.toString(codesShape) + " of W4 codes that " + key + " = "
                    + a8 + " implies (" + layout + ")");
        }
        String sn = scaleName(name);
        long[] scaleShape = {rows, layout.width() / group};
        GgufTensorInfo si = g.tensor(sn);
        if (si.type() != WeightType.F32 || !Arrays.equals(si.shape(), scaleShape)) {
            throw new ModelFormatException(g.path(), sn, si.infoOffset(), si.type() + " " + Arrays.toString(
                    si.shape()) + " is not the F32 " + Arrays.toString(scaleShape) + " of scales for groups of "
                    + group);
        }
        WeightTensor codes = g.map(name);
        backing.add(codes.data());
        WeightTensor scales = g.map(sn);
        backing.add(scales.data());
        out.put(codes, new W4AxMatrices.Matrix(W4Weights.of(rows, layout.width(), group, codes.data().segment(),
                scales.data().segment()), layout));
        return codes;
    }
}
