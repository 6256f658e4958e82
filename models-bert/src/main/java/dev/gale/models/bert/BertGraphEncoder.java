package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.core.graph.TransferMode;
import dev.gale.kernels.activation.BiasAddOp;
import dev.gale.kernels.activation.Gelu;
import dev.gale.kernels.activation.GeluOp;
import dev.gale.kernels.activation.ResidualAddOp;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.PrefillAttentionOp;
import dev.gale.kernels.attention.PrefillBatch;
import dev.gale.kernels.gemm.MatMulOp;
import dev.gale.kernels.norm.LayerNormOp;
import dev.gale.kernels.quant.DynamicQuantOp;
import dev.gale.kernels.quant.GemmU8S8Op;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The BERT encoder as one Gale task graph per padded batch shape, compiled for any device: an OpenCL device runs
 * every launch as its family's device kernel, the CPU device as the Vector API path. Same model and order of
 * operations as {@link BertEncoder} (its kernels' graph ops): embeddings (a host task: a gather), LayerNorm; per
 * layer the Q, K, V projections ({@link MatMulOp} + {@link BiasAddOp} for fp32; {@link DynamicQuantOp} once, shared by
 * the three, then {@link GemmU8S8Op} for int8), bidirectional {@link PrefillAttentionOp} with the padding mask, the
 * output projection, residual, LayerNorm, the FFN with GELU (erf), residual, LayerNorm; mean pooling on the host.
 *
 * <p>Nothing falls back: a launch the device cannot run fails at compile time, and {@link #lastReport()} says which
 * device and implementation ran each task. Weights are copied once into Gale buffers at construction; each batch
 * shape gets its plan and activation buffers, the last {@link #SHAPES} shapes are kept. One batch at a time per
 * encoder ({@link #embed} is synchronized).
 */
public final class BertGraphEncoder implements SentenceEncoder, AutoCloseable {
    /** Plans (and their activations) kept, most recently used first out. */
    static final int SHAPES = 4;

    private final BertWeights weights;
    private final BertConfig cfg;
    private final Device device;
    private final List<Buffer> owned = new ArrayList<>();
    private final Buffer embLnG;
    private final Buffer embLnB;
    private final List<LayerBuffers> layers = new ArrayList<>();
    private final Map<String, Session> sessions = new LinkedHashMap<>(8, 0.75f, true);
    private RunReport lastReport;
    private String lastGraph;

    /** One projection's buffers: F32 {@code W [out][in]} and bias, or int8 {@code W [in][out]}, scales and bias. */
    private record LinearBuffers(Buffer w, Buffer scale, Buffer bias, int in, int out) {
    }

    private record LayerBuffers(LinearBuffers q, LinearBuffers k, LinearBuffers v, LinearBuffers o, Buffer ln1G,
            Buffer ln1B, LinearBuffers up, LinearBuffers down, Buffer ln2G, Buffer ln2B) {
    }

    public BertGraphEncoder(BertWeights weights, Device device) {
        this.weights = weights;
        this.cfg = weights.config();
        this.device = device;
        this.embLnG = f32("embeddings.ln.g", weights.embLnG());
        this.embLnB = f32("embeddings.ln.b", weights.embLnB());
        int l = 0;
        for (BertWeights.Layer w : weights.layers()) {
            String p = "l" + l++ + ".";
            layers.add(new LayerBuffers(linear(p + "q", w.q()), linear(p + "k", w.k()), linear(p + "v", w.v()),
                    linear(p + "o", w.o()), f32(p + "ln1.g", w.ln1G()), f32(p + "ln1.b", w.ln1B()),
                    linear(p + "up", w.up()), linear(p + "down", w.down()), f32(p + "ln2.g", w.ln2G()),
                    f32(p + "ln2.b", w.ln2B())));
        }
    }

    public Device device() {
        return device;
    }

    @Override
    public BertConfig config() {
        return cfg;
    }

    @Override
    public boolean int8() {
        return weights.int8();
    }

    @Override
    public String deviceId() {
        return device.id();
    }

    /** Launches counted by device and implementation path, from the last run's report. */
    @Override
    public synchronized String ranOn() {
        if (lastReport == null) {
            return device.id() + ": not run yet";
        }
        Map<String, Integer> counts = new java.util.TreeMap<>();
        for (RunReport.TaskReport t : lastReport.tasks()) {
            String how = t.path().name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ');
            if (t.path() == dev.gale.core.device.ImplPath.TRANSFER && !t.detail().isEmpty()) {
                how += " (" + t.detail() + ")";
            }
            counts.merge(t.device() + " " + how, 1, Integer::sum);
        }
        StringBuilder b = new StringBuilder(device.id() + " (" + device.name() + "): task graph '"
                + lastGraph + "', ");
        counts.forEach((k, n) -> b.append(n).append(" × ").append(k).append(", "));
        b.append(lastReport.anyFallback() ? "WITH FALLBACKS" : "no fallback");
        return b.toString();
    }

    /** L2-normalised mean-pooled embeddings, one row of {@code hidden} per sentence. */
    @Override
    public synchronized float[][] embed(WordPieceTokenizer.Batch batch) {
        if (batch.seq() > cfg.positions()) {
            throw new InvalidTextException("sequence of " + batch.seq() + " tokens exceeds the model's "
                    + cfg.positions() + " positions");
        }
        Session s = session(batch.size(), batch.seq());
        s.ids.segment().copyFrom(MemorySegment.ofArray(batch.ids()));
        s.mask.segment().copyFrom(MemorySegment.ofArray(batch.mask()));
        for (int b = 0; b < batch.size(); b++) {
            s.lengths.setInt(b, batch.lengths()[b]);
            int[] row = {b * batch.seq(), batch.seq(), b * batch.seq(), batch.seq()};
            for (int f = 0; f < PrefillBatch.FIELDS; f++) {
                s.seqs.setInt((long) b * PrefillBatch.FIELDS + f, row[f]);
            }
        }
        lastReport = s.plan.run(s.bindings);
        lastGraph = s.plan.graph().name();
        return BertEncoder.pool(s.x.segment(), batch, cfg.hidden());
    }

    /** What ran where in the last {@link #embed}, or null before the first. */
    public synchronized RunReport lastReport() {
        return lastReport;
    }

    /** The placement of every task for this batch shape (compiling it if needed). */
    public synchronized String describe(int batch, int seq) {
        return session(batch, seq).plan.describe();
    }

    @Override
    public synchronized void close() {
        sessions.values().forEach(Session::close);
        sessions.clear();
        owned.forEach(Buffer::close);
        owned.clear();
    }

    private Session session(int batch, int seq) {
        String key = batch + "x" + seq;
        Session s = sessions.get(key);
        if (s == null) {
            if (sessions.size() >= SHAPES) {
                String eldest = sessions.keySet().iterator().next();
                sessions.remove(eldest).close();
            }
            s = new Session(batch, seq);
            sessions.put(key, s);
        }
        return s;
    }

    /** One batch shape: its graph compiled for the device, its activation buffers and bindings. */
    private final class Session {
        final Plan plan;
        final Bindings bindings;
        final List<Buffer> acts = new ArrayList<>();
        final Buffer ids;
        final Buffer mask;
        final Buffer lengths;
        final Buffer seqs;
        final Buffer x;
        private final TaskGraph g;
        private final Map<TensorParam, Buffer> binds = new IdentityHashMap<>();
        private final Map<Buffer, TensorParam> weightParams = new IdentityHashMap<>();

        Session(int batch, int seq) {
            int rows = batch * seq;
            int d = cfg.hidden();
            int h = cfg.heads();
            int hd = cfg.headDim();
            g = new TaskGraph("bert " + (weights.int8() ? "int8" : "fp32") + " " + batch + "x" + seq);
            ids = act("ids", DType.I32, rows);
            mask = act("mask", DType.U8, rows);
            lengths = act("lengths", DType.I32, batch);
            seqs = act("seqs", DType.I32, (long) batch * PrefillBatch.FIELDS);
            x = act("x", DType.F32, (long) rows * d);
            Buffer y = act("y", DType.F32, (long) rows * d);
            Buffer q = act("q", DType.F32, (long) rows * d);
            Buffer k = act("k", DType.F32, (long) rows * d);
            Buffer v = act("v", DType.F32, (long) rows * d);
            Buffer att = act("att", DType.F32, (long) rows * d);
            Buffer ffn = act("ffn", DType.F32, (long) rows * cfg.ffn());
            Buffer xq = weights.int8() ? act("x.q", DType.U8, (long) rows * cfg.ffn()) : null;
            Buffer qp = weights.int8() ? act("x.q.params", DType.F32, 2L * batch) : null;

            TensorParam pIds = param("ids", ids, rows);
            TensorParam pX = param("x", x, rows, d);
            TensorParam pLen = param("lengths", lengths, batch);
            TensorParam pSeqs = param("seqs", seqs, batch, PrefillBatch.FIELDS);
            TensorParam pMask = param("mask", mask, rows);
            g.transferToDevice(pLen, TransferMode.EVERY_RUN)
                    .transferToDevice(pSeqs, TransferMode.EVERY_RUN)
                    .transferToDevice(pMask, TransferMode.EVERY_RUN);
            g.host("embeddings", ctx -> BertEncoder.embeddings(weights, ctx.segment(0).toArray(
                    java.lang.foreign.ValueLayout.JAVA_INT), seq, ctx.segment(1)), pIds, pX);
            g.transferToDevice(pX, TransferMode.EVERY_RUN);
            LayerNormOp norm = new LayerNormOp(cfg.eps());
            g.launch("embeddings.layernorm", norm, pX, weight(embLnG, d), weight(embLnB, d), pX);
            PrefillAttentionOp attention = new PrefillAttentionOp(AttentionSpec.of(h, h, hd, false), seq);
            GeluOp gelu = new GeluOp(Gelu.Variant.ERF);
            for (int l = 0; l < layers.size(); l++) {
                LayerBuffers lb = layers.get(l);
                String p = "l" + l + ".";
                TensorParam pY = param(p + "y", y, rows, d);
                if (weights.int8()) {
                    Quantized xs = quantize(p + "x", x, xq, qp, batch, seq, d, pLen);
                    int8(p + "q", lb.q(), xs, param(p + "q", q, batch, seq, d));
                    int8(p + "k", lb.k(), xs, param(p + "k", k, batch, seq, d));
                    int8(p + "v", lb.v(), xs, param(p + "v", v, batch, seq, d));
                } else {
                    f32(p + "q", lb.q(), pX, param(p + "q", q, rows, d));
                    f32(p + "k", lb.k(), pX, param(p + "k", k, rows, d));
                    f32(p + "v", lb.v(), pX, param(p + "v", v, rows, d));
                }
                g.launch(p + "attention", attention, param(p + "q.heads", q, rows, h, hd),
                        param(p + "k.heads", k, rows, h, hd), param(p + "v.heads", v, rows, h, hd), pSeqs, pMask,
                        param(p + "att.heads", att, rows, h, hd));
                if (weights.int8()) {
                    int8(p + "o", lb.o(), quantize(p + "att", att, xq, qp, batch, seq, d, pLen),
                            param(p + "y3", y, batch, seq, d));
                } else {
                    f32(p + "o", lb.o(), param(p + "att", att, rows, d), pY);
                }
                g.launch(p + "attn.residual", ResidualAddOp.INSTANCE, pY, pX, pY)
                        .launch(p + "attn.layernorm", norm, pY, weight(lb.ln1G(), d), weight(lb.ln1B(), d), pX);
                TensorParam pF = param(p + "ffn", ffn, rows, cfg.ffn());
                if (weights.int8()) {
                    int8(p + "up", lb.up(), quantize(p + "x.ffn", x, xq, qp, batch, seq, d, pLen),
                            param(p + "ffn3", ffn, batch, seq, cfg.ffn()));
                } else {
                    f32(p + "up", lb.up(), pX, pF);
                }
                g.launch(p + "gelu", gelu, pF, pF);
                if (weights.int8()) {
                    int8(p + "down", lb.down(), quantize(p + "ffn", ffn, xq, qp, batch, seq, cfg.ffn(), pLen),
                            param(p + "y3.ffn", y, batch, seq, d));
                } else {
                    f32(p + "down", lb.down(), pF, pY);
                }
                g.launch(p + "ffn.residual", ResidualAddOp.INSTANCE, pY, pX, pY)
                        .launch(p + "ffn.layernorm", norm, pY, weight(lb.ln2G(), d), weight(lb.ln2B(), d), pX);
            }
            g.transferToHost(pX, TransferMode.EVERY_RUN);
            plan = g.compile(device);
            bindings = plan.newBindings();
            binds.forEach(bindings::bind);
        }

        /** Quantized activations: the U8 tensor and its per-sentence (scale, zero point). */
        private record Quantized(TensorParam q, TensorParam params) {
        }

        private Quantized quantize(String name, Buffer src, Buffer xq, Buffer qp, int batch, int seq, int cols,
                TensorParam pLen) {
            TensorParam q = param(name + ".q", xq, batch, seq, cols);
            TensorParam p = param(name + ".q.params", qp, batch, 2);
            g.launch(name + ".quantize", DynamicQuantOp.INSTANCE, param(name + ".f32", src, batch, seq, cols), pLen,
                    q, p);
            return new Quantized(q, p);
        }

        private void int8(String name, LinearBuffers w, Quantized in, TensorParam out) {
            g.launch(name, GemmU8S8Op.INSTANCE, in.q(), in.params(), weight(w.w(), w.in(), w.out()),
                    weight(w.scale(), w.out()), weight(w.bias(), w.out()), out);
        }

        private void f32(String name, LinearBuffers w, TensorParam in, TensorParam out) {
            g.launch(name, MatMulOp.INSTANCE, weight(w.w(), w.out(), w.in()), in, out)
                    .launch(name + ".bias", BiasAddOp.INSTANCE, out, weight(w.bias(), w.out()));
        }

        private Buffer act(String name, DType type, long n) {
            Buffer b = Buffers.allocate(name, type, n);
            acts.add(b);
            return b;
        }

        private TensorParam param(String name, Buffer b, long... shape) {
            TensorParam p = g.tensor(name, b.dtype(), shape);
            binds.put(p, b);
            return p;
        }

        /** One parameter per weight buffer, moved to the device once. */
        private TensorParam weight(Buffer b, long... shape) {
            TensorParam p = weightParams.get(b);
            if (p == null) {
                p = param(b.name(), b, shape);
                weightParams.put(b, p);
                g.transferToDevice(p, TransferMode.ONCE);
            }
            return p;
        }

        void close() {
            bindings.close();
            acts.forEach(Buffer::close);
        }
    }

    private LinearBuffers linear(String name, Linear l) {
        return switch (l) {
            case F32Linear f -> new LinearBuffers(copy(name + ".w", DType.F32, f.weights()), null,
                    f32(name + ".b", f.bias()), f.in(), f.out());
            case Int8Linear q -> new LinearBuffers(copy(name + ".w", DType.I8, q.weights()),
                    copy(name + ".scale", DType.F32, q.weightScales()), copy(name + ".b", DType.F32, q.bias()), q.in(),
                    q.out());
            default -> throw new IllegalArgumentException("no graph form for " + l.getClass().getSimpleName());
        };
    }

    private Buffer f32(String name, float[] v) {
        Buffer b = Buffers.allocate(name, DType.F32, v.length);
        MemorySegment.copy(v, 0, b.segment(), JAVA_FLOAT, 0, v.length);
        owned.add(b);
        return b;
    }

    private Buffer copy(String name, DType type, MemorySegment src) {
        Buffer b = Buffers.allocate(name, type, src.byteSize() * 8 / type.bits());
        b.segment().copyFrom(src);
        owned.add(b);
        return b;
    }
}
