package dev.gale.models.llama;

import dev.gale.core.buffer.DType;
import dev.gale.core.graph.FloatScalar;
import dev.gale.core.graph.IntScalar;
import dev.gale.core.graph.Op;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.activation.ResidualAddOp;
import dev.gale.kernels.activation.SwiGluOp;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.CacheAttentionOp;
import dev.gale.kernels.attention.CachedPrefillAttentionOp;
import dev.gale.kernels.attention.DecodeAttentionOp;
import dev.gale.kernels.attention.DecodePlanner;
import dev.gale.kernels.attention.HeavyHitterKv;
import dev.gale.kernels.attention.HeavyHitterOps;
import dev.gale.kernels.attention.KiviAppendOp;
import dev.gale.kernels.attention.KiviCache;
import dev.gale.kernels.attention.KvAppendOp;
import dev.gale.kernels.attention.PrefillAttentionOp;
import dev.gale.kernels.attention.PrefillBatch;
import dev.gale.kernels.attention.SinkAppendOp;
import dev.gale.kernels.attention.SinkAttentionOp;
import dev.gale.kernels.attention.SinkWindowKv;
import dev.gale.kernels.attention.TokenOrderPromptOp;
import dev.gale.kernels.norm.RmsNormOp;
import dev.gale.kernels.rope.RopeOp;
import dev.gale.kernels.sampling.ArgmaxOp;
import dev.gale.kernels.sampling.SampleOp;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaWeights;
import dev.gale.models.WeightTensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The task graph of one forward pass over {@code T} new tokens of one sequence: the embedding of the ids, every
 * layer (RMSNorm, Q/K/V projections, RoPE at the run-time position, KV append, attention, output projection,
 * residual, RMSNorm, SwiGLU feed-forward, residual), the final norm, the classifier on the last token and the
 * sampler. With {@code T = 1} it is the decode step, compiled once per session and run once per token with the
 * position and the coin as its only run-time inputs; the sampled id lands in the buffer the next step embeds from.
 *
 * <p>A prompt runs as {@code T > 1} tokens in one of two ways. Continuing a dense cache, attention reads the cache
 * (the chunk's keys appended first; {@link CachedPrefillAttentionOp}, dense F32/F16 caches). Starting a sequence
 * ({@code fresh}: position 0), the cache holds nothing but the chunk itself, so attention runs over the chunk's own
 * F32 keys and values ({@link PrefillAttentionOp}, which has a device kernel) while the append writes them to the
 * cache in its own format: dense F32/F16, KIVI (quantize-on-append; KIVI's prefill attends in full precision too),
 * or a sink cache that the chunk does not overflow (cache positions are then the token positions, so RoPE at the
 * token positions is the cache's rotation). H2O has no fresh path: its scores need every query's attention to every
 * key.
 *
 * <p>Tensors that are the same memory seen with another shape ({@code q} as {@code [T, dim]} for its projection and
 * {@code [T, Hq, d]} for RoPE and attention) are separate parameters bound to one buffer by the session.
 */
final class StepGraph {
    /** The sampler at the end of the graph: argmax for temperature 0, else temperature and top-p. */
    record Sampling(float temperature, float topP) {
        boolean greedy() {
            return temperature == 0f;
        }
    }

    final TaskGraph graph;
    final int tokens;
    final TensorParam ids;
    final TensorParam x;
    final TensorParam h;
    final TensorParam q2;
    final TensorParam q3;
    final TensorParam k2;
    final TensorParam k3;
    final TensorParam v2;
    final TensorParam v3;
    final TensorParam att3;
    final TensorParam att2;
    final TensorParam o;
    final TensorParam gate;
    final TensorParam up;
    final TensorParam act;
    final TensorParam lastX;
    final TensorParam lastH;
    final TensorParam logits;
    final TensorParam probs;
    final TensorParam next;
    final List<TensorParam> cacheK = new ArrayList<>();
    final List<TensorParam> cacheV = new ArrayList<>();
    final List<TensorParam> lengths = new ArrayList<>();
    /** Per layer under the sinks policy: the sink cache's slots as graph tensors (bound to its own storage). */
    final List<TensorParam> sinkK = new ArrayList<>();
    final List<TensorParam> sinkV = new ArrayList<>();
    final Map<WeightTensor, TensorParam> weightParams = new IdentityHashMap<>();
    final IntScalar pos;
    final FloatScalar coin;
    /** The fresh prefill's batch table ({@link PrefillBatch}: one sequence, {@code [0, T, 0, T]}), else null. */
    final TensorParam seqs;

    /**
     * @param kivi  per layer, the session's KIVI cache, or null for dense caches (graph tensors)
     * @param fresh a prompt starting the sequence (position 0, {@code tokens > 1}): attention over the chunk itself
     */
    StepGraph(BoundWeights w, int tokens, boolean fresh, int capacity, DType kvType, List<KiviCache> kivi,
            List<SinkWindowKv> sinks, List<HeavyHitterKv> heavy, Sampling sampling,
            DecodePlanner.Schedule schedule) {
        LlamaConfig c = w.config();
        LlamaWeights lw = w.weights();
        this.tokens = tokens;
        int t = tokens;
        int dim = c.dim();
        int hd = c.headDim();
        if (fresh && t == 1) {
            throw new IllegalArgumentException("a fresh prefill has more than one token");
        }
        graph = new TaskGraph(t == 1 ? "llama decode step" : (fresh ? "llama fresh prefill x" : "llama prefill x") + t);
        ids = graph.tensor("ids", DType.I32, t);
        x = graph.tensor("x", DType.F32, t, dim);
        h = graph.tensor("h", DType.F32, t, dim);
        q2 = graph.tensor("q", DType.F32, t, dim);
        q3 = graph.tensor("q.heads", DType.F32, t, c.heads(), hd);
        k2 = graph.tensor("k", DType.F32, t, c.kvDim());
        k3 = graph.tensor("k.heads", DType.F32, t, c.kvHeads(), hd);
        v2 = graph.tensor("v", DType.F32, t, c.kvDim());
        v3 = graph.tensor("v.heads", DType.F32, t, c.kvHeads(), hd);
        att3 = graph.tensor("att.heads", DType.F32, t, c.heads(), hd);
        att2 = graph.tensor("att", DType.F32, t, dim);
        o = graph.tensor("o", DType.F32, t, dim);
        gate = graph.tensor("gate", DType.F32, t, c.hiddenDim());
        up = graph.tensor("up", DType.F32, t, c.hiddenDim());
        act = graph.tensor("act", DType.F32, t, c.hiddenDim());
        lastX = graph.tensor("x.last", DType.F32, 1, dim);
        lastH = graph.tensor("h.last", DType.F32, 1, dim);
        logits = graph.tensor("logits", DType.F32, 1, c.vocab());
        probs = graph.tensor("probs", DType.F32, 1, c.vocab());
        next = graph.tensor("next", DType.I32, 1);
        pos = graph.intScalar("position");
        coin = graph.floatScalar("coin");
        seqs = fresh ? graph.tensor("prefill.seqs", DType.I32, 1, PrefillBatch.FIELDS) : null;

        AttentionSpec spec = AttentionSpec.of(c.heads(), c.kvHeads(), hd, true);
        AttentionSpec decodeSpec = AttentionSpec.of(c.heads(), c.kvHeads(), hd, false);
        // A fresh prompt (any cache) attends over itself; with a dense cache, decode and continuing prompts read it.
        Op attention = fresh ? new PrefillAttentionOp(spec, t)
                : t == 1 ? new DecodeAttentionOp(decodeSpec, schedule) : new CachedPrefillAttentionOp(spec);
        // H2O keeps original positions beyond its budget: the table covers the model's positions too.
        RopeOp rope = new RopeOp(Rope.table(c, Math.max(capacity, c.seqLen())));
        RmsNormOp norm = new RmsNormOp(c.normEps());
        graph.launch("embed", w.embed(), weight(w, lw.tokenEmbedding()), ids, x);
        for (int l = 0; l < c.layers(); l++) {
            LlamaWeights.Layer lay = lw.layers().get(l);
            String p = "l" + l + ".";
            // W4Ax: the fused RMSNorm + activation quantizer when wq, wk, wv share one quantization of h
            graph.launch(p + "attn_norm", w.norm(lay.attnNorm(), norm), x, weight(w, lay.attnNorm()), h)
                    .launch(p + "wq", w.matmul(lay.wq()), weight(w, lay.wq()), h, q2)
                    .launch(p + "wk", w.matmul(lay.wk()), weight(w, lay.wk()), h, k2)
                    .launch(p + "wv", w.matmul(lay.wv()), weight(w, lay.wv()), h, v2);
            if (sinks != null) {
                // Keys are cached un-rotated; the cache rotates keys and query by their cache positions. Its slots
                // are graph tensors over the cache's own storage, so a device appends and attends in place.
                SinkWindowKv sc = sinks.get(l);
                TensorParam ck = graph.tensor(p + "sink.k", sc.dtype(), 1, c.kvHeads(), sc.capacity(), hd);
                TensorParam cv = graph.tensor(p + "sink.v", sc.dtype(), 1, c.kvHeads(), sc.capacity(), hd);
                sinkK.add(ck);
                sinkV.add(cv);
                if (fresh) {
                    graph.launch(p + "kv_append", new SinkAppendOp(sc), k2, v2, ck, cv)
                            .launch(p + "rope", rope, q3, k3, pos)
                            .launch(p + "attention", attention, q3, k3, v3, seqs, att3);
                } else if (t > 1) {
                    // Continuing (or overflowing) the ring: each token enters, then attends as a decode step would.
                    graph.launch(p + "attention", TokenOrderPromptOp.sinks(sc, decodeSpec), q3, k3, v3, pos, att3, ck,
                            cv);
                } else {
                    graph.launch(p + "kv_append", new SinkAppendOp(sc), k2, v2, ck, cv)
                            .launch(p + "attention", new SinkAttentionOp(sc, decodeSpec), q3, ck, cv, att3);
                }
            } else if (heavy != null) {
                graph.launch(p + "rope", rope, q3, k3, pos);
                if (t > 1) {
                    // H2O's counters need each query's attention over the keys kept at its step: the prompt's
                    // tokens enter and attend in order, and only the matrix products around them run batched.
                    graph.launch(p + "attention", TokenOrderPromptOp.h2o(heavy.get(l), decodeSpec), q3, k3, v3, pos,
                            att3);
                } else {
                    graph.launch(p + "kv_append", HeavyHitterOps.append(heavy.get(l)), k2, v2, pos)
                            .launch(p + "attention", HeavyHitterOps.attention(heavy.get(l), decodeSpec), q3, att3);
                }
            } else if (kivi != null && t > 1 && !fresh) {
                // Continuing a KIVI sequence: each token is quantized in, then attends as a decode step would.
                graph.launch(p + "rope", rope, q3, k3, pos)
                        .launch(p + "attention", TokenOrderPromptOp.kivi(kivi.get(l), decodeSpec), q3, k3, v3, pos,
                                att3);
            } else if (kivi != null) {
                graph.launch(p + "rope", rope, q3, k3, pos)
                        .launch(p + "kv_append", new KiviAppendOp(kivi.get(l)), k3, v3, pos);
                if (fresh) {
                    graph.launch(p + "attention", attention, q3, k3, v3, seqs, att3);
                } else {
                    graph.launch(p + "attention", new CacheAttentionOp(kivi.get(l), decodeSpec), q3, att3);
                }
            } else {
                TensorParam ck = graph.tensor(p + "cache.k", kvType, 1, c.kvHeads(), capacity, hd);
                TensorParam cv = graph.tensor(p + "cache.v", kvType, 1, c.kvHeads(), capacity, hd);
                TensorParam len = graph.tensor(p + "cache.length", DType.I32, 1);
                cacheK.add(ck);
                cacheV.add(cv);
                lengths.add(len);
                graph.launch(p + "rope", rope, q3, k3, pos)
                        .launch(p + "kv_append", KvAppendOp.INSTANCE, k3, v3, ck, cv, len, pos);
                if (fresh) {
                    graph.launch(p + "attention", attention, q3, k3, v3, seqs, att3);
                } else {
                    graph.launch(p + "attention", attention, q3, ck, cv, len, att3);
                }
            }
            graph.launch(p + "wo", w.matmul(lay.wo()), weight(w, lay.wo()), att2, o)
                    .launch(p + "attn_residual", ResidualAddOp.INSTANCE, x, o, x)
                    .launch(p + "ffn_norm", w.norm(lay.ffnNorm(), norm), x, weight(w, lay.ffnNorm()), h)
                    .launch(p + "w1", w.matmul(lay.w1()), weight(w, lay.w1()), h, gate)
                    .launch(p + "w3", w.matmul(lay.w3()), weight(w, lay.w3()), h, up)
                    .launch(p + "swiglu", SwiGluOp.INSTANCE, gate, up, act)
                    .launch(p + "w2", w.matmul(lay.w2()), weight(w, lay.w2()), act, o)
                    .launch(p + "ffn_residual", ResidualAddOp.INSTANCE, x, o, x);
        }
        graph.launch("final_norm", norm, lastX, weight(w, lw.finalNorm()), lastH)
                .launch("classifier", w.matmul(lw.classifier()), weight(w, lw.classifier()), lastH, logits);
        if (sampling.greedy()) {
            graph.launch("argmax", ArgmaxOp.INSTANCE, logits, next);
        } else {
            graph.launch("sample", new SampleOp(sampling.temperature(), sampling.topP()), logits, probs, next, coin);
        }
        // On a GPU the activations stay in device memory through the step and between steps, and so does a dense
        // cache: only the ids, the lengths and the sampled id cross the bus each token (the session reads the logits
        // and saves the cache through the bindings). The sink, H2O and KIVI caches keep host-side bookkeeping over
        // q, k, v and att, so those four stay copied around their launches there.
        graph.resident(x, h, o, gate, up, act, lastX, lastH, logits, probs);
        if (sinks == null && heavy == null && kivi == null) {
            graph.resident(q2, q3, k2, k3, v2, v3, att2, att3);
            cacheK.forEach(graph::resident);
            cacheV.forEach(graph::resident);
        }
    }

    private TensorParam weight(BoundWeights w, WeightTensor t) {
        return weightParams.computeIfAbsent(t, k -> {
            var b = w.get(k);
            long[] shape = k.shape();
            long rows = k.rows();
            long rowElems = b.buffer().length() / rows;
            return shape.length == 1 ? graph.tensor(k.name(), b.buffer().dtype(), shape[0])
                    : graph.tensor(k.name(), b.buffer().dtype(), rows, rowElems);
        });
    }
}
