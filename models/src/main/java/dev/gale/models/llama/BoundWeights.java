package dev.gale.models.llama;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.HugePageAllocator;
import dev.gale.core.graph.Op;
import dev.gale.kernels.embed.EmbedOp;
import dev.gale.kernels.embed.TableFormat;
import dev.gale.kernels.gemm.MatMulOp;
import dev.gale.kernels.norm.RmsNormQuantOp;
import dev.gale.kernels.quant.QuantizedInput;
import dev.gale.kernels.quant.QuantMatMulOp;
import dev.gale.kernels.quant.W4AxMatMulOp;
import dev.gale.kernels.quant.W4Packed;
import dev.gale.models.LlamaModel;
import dev.gale.models.W4AxMatrices;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaWeights;
import dev.gale.models.WeightTensor;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * A model's weights as decode graphs use them, prepared once and shared by every session of the model: for each
 * matrix, the buffer a graph binds (F32/F16 as stored; Q8_0 blocks viewed as the signed bytes the device kernels read)
 * and the matmul op that multiplies by it (quantized ops hold the weight repacked for the Vector API path). A
 * W4Ax model's matrices bind their packed codes (as U8) with a {@link W4AxMatMulOp} holding codes, scales, the
 * input's channel layout and, for group size 128, the codes repacked for the decode GEMV ({@link W4Packed}); the
 * matrices of one layer input (wq, wk, wv; w1, w3) share its quantization, done once by the RMSNorm before them
 * ({@link #norm}: {@link RmsNormQuantOp}).
 */
public final class BoundWeights implements AutoCloseable {
    /** One weight tensor ready for a graph: its buffer and the op that consumes it. */
    public record Bound(WeightTensor tensor, Buffer buffer, Op op) {
    }

    private final LlamaConfig config;
    private final LlamaWeights weights;
    /** The repacked decode copies: streamed once per token, so asked for as huge pages (fewer page walks). */
    private final HugePageAllocator packed = new HugePageAllocator();
    private final Map<WeightTensor, Bound> bound = new IdentityHashMap<>();
    private final Optional<W4AxMatrices> w4ax;
    /** W4Ax matrices that read one normalised vector: their shared quantization, by matrix. */
    private final Map<WeightTensor, QuantizedInput> sharedInputs = new IdentityHashMap<>();
    /** The fused RMSNorm + quantizer that fills a shared input, by the norm's weight tensor. */
    private final Map<WeightTensor, RmsNormQuantOp> fusedNorms = new IdentityHashMap<>();

    public BoundWeights(LlamaConfig config, LlamaWeights weights) {
        this(config, weights, Optional.empty());
    }

    /** The model's weights, in W4Ax form when it has one. */
    public BoundWeights(LlamaModel model) {
        this(model.config(), model.weights(), model.w4ax());
    }

    private BoundWeights(LlamaConfig config, LlamaWeights weights, Optional<W4AxMatrices> w4ax) {
        this.config = config;
        this.weights = weights;
        this.w4ax = w4ax;
        for (LlamaWeights.Layer l : weights.layers()) {
            share(l.attnNorm(), l.wq(), l.wk(), l.wv());
            share(l.ffnNorm(), l.w1(), l.w3());
        }
        for (WeightTensor t : weights.all()) {
            bound.put(t, bind(t));
        }
    }

    /**
     * When every matrix that reads {@code norm}'s output is W4Ax with the same activation quantization, one
     * {@link QuantizedInput} for them and the fused RMSNorm that fills it (quantize once per normalised vector).
     */
    private void share(WeightTensor norm, WeightTensor... readers) {
        W4AxMatrices.Matrix first = w4ax.map(x -> x.matrices().get(readers[0])).orElse(null);
        if (first == null) {
            return;
        }
        for (WeightTensor t : readers) {
            W4AxMatrices.Matrix m = w4ax.get().matrices().get(t);
            if (m == null || !QuantizedInput.sameQuantization(m.layout(), first.layout())) {
                return;
            }
        }
        QuantizedInput input = new QuantizedInput(first.layout());
        for (WeightTensor t : readers) {
            sharedInputs.put(t, input);
        }
        fusedNorms.put(norm, new RmsNormQuantOp(config.normEps(), input, readers.length));
    }

    /**
     * The op that applies RMSNorm {@code norm}: the fused RMSNorm + activation quantizer when the W4Ax matrices
     * reading its output share one quantization, else {@code plain}.
     */
    public Op norm(WeightTensor norm, Op plain) {
        RmsNormQuantOp fused = fusedNorms.get(norm);
        return fused != null ? fused : plain;
    }

    /** The W4Ax description of the matrices, when the model has one. */
    public Optional<W4AxMatrices> w4ax() {
        return w4ax;
    }

    /**
     * Replaces every matrix's op by {@code wrap} of it (calibration observes the matmul inputs this way); call
     * before any session compiles a plan.
     */
    void wrapMatmuls(UnaryOperator<Bound> wrap) {
        for (WeightTensor t : weights.all()) {
            Bound b = bound.get(t);
            if (b.op() != null) {
                bound.put(t, wrap.apply(b));
            }
        }
    }

    private Bound bind(WeightTensor t) {
        // Weights never change once loaded: bound read-only, a device with its own memory copies each one once (its
        // launcher re-sends a writable buffer before every launch), and a stray write fails instead of corrupting
        // the model every session shares.
        Buffer data = t.data().readOnly();
        int rows = (int) t.rows();
        int in = (int) t.rowLength();
        boolean embedding = t == weights.tokenEmbedding();
        W4AxMatrices.Matrix m = w4ax.map(x -> x.matrices().get(t)).orElse(null);
        if (m != null) {
            Buffer codes = data.viewAs(t.name() + ".codes", DType.U8, 0, data.length());
            // As for Q4_0: the bound import layout stays (references, device kernels, prefill GEMM) and the decode
            // GEMV reads a copy repacked once into this object's arena.
            W4Packed decode = W4Packed.supports(m.weights()) ? W4Packed.pack(m.weights(), packed) : null;
            return new Bound(t, codes, new W4AxMatMulOp(m.weights(), decode, m.layout(), sharedInputs.get(t)));
        }
        return switch (t.type()) {
            case F32, F16 -> new Bound(t, data, t.shape().length == 2 && !embedding ? MatMulOp.INSTANCE : null);
            case Q8_0 -> {
                Buffer blocks = data.viewAs(t.name() + ".blocks", DType.I8, 0, data.length());
                yield new Bound(t, blocks, QuantMatMulOp.q8_0(blocks.segment(), 0, rows, in, packed));
            }
            case Q4_0 -> new Bound(t, data, QuantMatMulOp.q4_0(data.segment(), 0, rows, in, packed));
            case I8 -> throw new IllegalArgumentException(t + ": an I8 tensor is the codes of a W4Ax matrix, and "
                    + "this model has no W4Ax description of it");
        };
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    public Bound get(WeightTensor t) {
        return bound.get(t);
    }

    /** The op that multiplies by matrix {@code t} (also for the tied classifier, which is the embedding table). */
    public Op matmul(WeightTensor t) {
        Bound b = bound.get(t);
        if (b.op() != null) {
            return b.op();
        }
        return MatMulOp.INSTANCE;
    }

    /** The embedding lookup for the token table's format. */
    public EmbedOp embed() {
        TableFormat f = switch (weights.tokenEmbedding().type()) {
            case F32 -> TableFormat.F32;
            case F16 -> TableFormat.F16;
            case Q8_0 -> TableFormat.Q8_0;
            case Q4_0 -> TableFormat.Q4_0;
            case I8 -> throw new IllegalArgumentException("the token table cannot be I8");
        };
        return new EmbedOp(f, config.dim());
    }

    /** Bytes of weights a decode step reads: every matrix once (the tied table once, as the classifier). */
    public long bytesPerToken() {
        long n = 0;
        for (WeightTensor t : weights.all()) {
            W4AxMatrices.Matrix m = w4ax.map(x -> x.matrices().get(t)).orElse(null);
            long bytes = m != null ? m.weights().byteSize() : t.byteSize();
            n += t == weights.tokenEmbedding() && !weights.tiedClassifier() ? 0 : bytes;
        }
        return n;
    }

    @Override
    public void close() {
        packed.close();
    }
}
