package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.activation.ResidualAdd;
import dev.gale.kernels.norm.LayerNorm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A post-LayerNorm BERT encoder on Gale's CPU kernels, for sentence embeddings:
 * <ol>
 *   <li>word + token type (0) + position embeddings, LayerNorm;</li>
 *   <li>per layer: Q, K, V projections, bidirectional attention over the sentence's real tokens
 *       ({@link BidirectionalAttention}), output projection, residual, LayerNorm; FFN in, GELU (erf), FFN out,
 *       residual, LayerNorm;</li>
 *   <li>mean over the real tokens, then L2 normalisation.</li>
 * </ol>
 * Sentences of different lengths run together padded to the longest; padded rows are computed but never seen: keys
 * are masked in attention and rows are skipped in pooling.
 *
 * <p>Paths: projections {@link F32Linear} or {@link Int8Linear} (the graph's dynamic uint8 × int8 scheme), both on
 * Gale's packed-weight Vector API GEMM with the bias and the FFN's GELU fused; {@link LayerNorm} and
 * {@link ResidualAdd} are Gale's Vector API kernels; attention is whatever {@link BidirectionalAttention} the encoder is given.
 * Thread-safe: each call allocates its own activations.
 */
public final class BertEncoder implements SentenceEncoder {
    private final BertWeights weights;
    private final BertConfig cfg;
    private final BidirectionalAttention attention;

    public BertEncoder(BertWeights weights, BidirectionalAttention attention) {
        this.weights = weights;
        this.cfg = weights.config();
        this.attention = attention;
    }

    /**
     * With {@link TiledBidirectionalAttention} (whole score rows, for encoder-length sentences; {@link
     * FlashBidirectionalAttention} is the FlashAttention-2 kernel, {@link ReferenceBidirectionalAttention} the double
     * one).
     */
    public BertEncoder(BertWeights weights) {
        this(weights, new TiledBidirectionalAttention());
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
        return "cpu";
    }

    @Override
    public String ranOn() {
        return "cpu: every step as Gale's Vector API kernels called directly (" + attention.getClass().getSimpleName()
                + " attention; projections " + (weights.int8() ? "GemmPacked.u8s8, u8 x s8 as exact F32 chunks"
                        : "GemmPacked, F32") + " on weights packed at load, bias and GELU fused), no task graph";
    }

    /** L2-normalised mean-pooled embeddings, one row of {@code hidden} per sentence. */
    @Override
    public float[][] embed(WordPieceTokenizer.Batch batch) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment h = hidden(batch, arena, cfg.layers());
            return pool(h, batch);
        }
    }

    /**
     * The last hidden state, {@code [batch][seq][hidden]} (padded rows included, their values meaningless), as the
     * graph's {@code last_hidden_state} output.
     */
    public float[] lastHiddenState(WordPieceTokenizer.Batch batch) {
        try (Arena arena = Arena.ofShared()) {
            return hidden(batch, arena, cfg.layers()).toArray(JAVA_FLOAT);
        }
    }

    /** The hidden state after the embeddings' LayerNorm and the first {@code layers} layers (for layer-by-layer checks). */
    public float[] hiddenState(WordPieceTokenizer.Batch batch, int layers) {
        if (layers < 0 || layers > cfg.layers()) {
            throw new IllegalArgumentException("layers must be in [0, " + cfg.layers() + "]: " + layers);
        }
        try (Arena arena = Arena.ofShared()) {
            return hidden(batch, arena, layers).toArray(JAVA_FLOAT);
        }
    }

    private MemorySegment hidden(WordPieceTokenizer.Batch batch, Arena arena, int layers) {
        int bsz = batch.size();
        int seq = batch.seq();
        if (seq > cfg.positions()) {
            throw new InvalidTextException("sequence of " + seq + " tokens exceeds the model's " + cfg.positions()
                    + " positions");
        }
        int rows = bsz * seq;
        int d = cfg.hidden();
        long act = (long) rows * d * Float.BYTES;
        MemorySegment x = arena.allocate(act, 64);
        MemorySegment q = arena.allocate(act, 64);
        MemorySegment k = arena.allocate(act, 64);
        MemorySegment v = arena.allocate(act, 64);
        MemorySegment ctx = arena.allocate(act, 64);
        MemorySegment ffn = arena.allocate((long) rows * cfg.ffn() * Float.BYTES, 64);
        MemorySegment mask = arena.allocate(rows);
        MemorySegment.copy(batch.mask(), 0, mask, JAVA_BYTE, 0, rows);
        int[] len = batch.lengths();

        embeddings(weights, batch.ids(), seq, x);
        LayerNorm.applyParallel(x, 0, seg(arena, weights.embLnG()), 0, seg(arena, weights.embLnB()), 0, x, 0, rows, d,
                cfg.eps());
        float scale = (float) (1.0 / Math.sqrt(cfg.headDim()));
        for (BertWeights.Layer l : weights.layers().subList(0, layers)) {
            l.q().apply(x, q, bsz, seq, len);
            l.k().apply(x, k, bsz, seq, len);
            l.v().apply(x, v, bsz, seq, len);
            attention.attend(q, k, v, ctx, mask, bsz, seq, cfg.heads(), cfg.headDim(), scale);
            l.o().apply(ctx, q, bsz, seq, len);
            ResidualAdd.applyParallel(q, 0, x, 0, q, 0, (long) rows * d);
            LayerNorm.applyParallel(q, 0, seg(arena, l.ln1G()), 0, seg(arena, l.ln1B()), 0, x, 0, rows, d, cfg.eps());
            l.up().applyGelu(x, ffn, bsz, seq, len);
            l.down().apply(ffn, q, bsz, seq, len);
            ResidualAdd.applyParallel(q, 0, x, 0, q, 0, (long) rows * d);
            LayerNorm.applyParallel(q, 0, seg(arena, l.ln2G()), 0, seg(arena, l.ln2B()), 0, x, 0, rows, d, cfg.eps());
        }
        return x;
    }

    /** word[id] + type[0] + position[t], summed in the graph's order ((word + type) + position). */
    static void embeddings(BertWeights weights, int[] ids, int seq, MemorySegment x) {
        BertConfig cfg = weights.config();
        int d = cfg.hidden();
        float[] word = weights.wordEmbeddings();
        float[] pos = weights.positionEmbeddings();
        float[] type = weights.typeEmbeddings();
        for (int id : ids) {
            if (id < 0 || id >= cfg.vocab()) {
                throw new InvalidTextException("token id " + id + " outside the vocabulary of " + cfg.vocab());
            }
        }
        WorkerPool.shared().parallelFor(ids.length, 16, (s, e) -> {
            for (int r = s; r < e; r++) {
                int w = ids[r] * d;
                int p = (r % seq) * d;
                long xo = (long) r * d;
                for (int i = 0; i < d; i++) {
                    x.setAtIndex(JAVA_FLOAT, xo + i, (word[w + i] + type[i]) + pos[p + i]);
                }
            }
        });
    }

    private float[][] pool(MemorySegment h, WordPieceTokenizer.Batch batch) {
        return pool(h, batch, cfg.hidden());
    }

    /** Mean over each sentence's real tokens (in double), then L2 normalisation. */
    static float[][] pool(MemorySegment h, WordPieceTokenizer.Batch batch, int d) {
        float[][] out = new float[batch.size()][d];
        double[] sum = new double[d];
        for (int b = 0; b < batch.size(); b++) {
            java.util.Arrays.fill(sum, 0);
            int n = 0;
            for (int t = 0; t < batch.seq(); t++) {
                int r = b * batch.seq() + t;
                if (batch.mask()[r] == 0) {
                    continue;
                }
                n++;
                for (int i = 0; i < d; i++) {
                    sum[i] += h.getAtIndex(JAVA_FLOAT, (long) r * d + i);
                }
            }
            double norm = 0;
            for (int i = 0; i < d; i++) {
                sum[i] /= n;
                norm += sum[i] * sum[i];
            }
            // A zero mean vector (impossible for a trained model, possible for synthetic weights) stays zero.
            double inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
            for (int i = 0; i < d; i++) {
                out[b][i] = (float) (sum[i] * inv);
            }
        }
        return out;
    }

    private static MemorySegment seg(Arena arena, float[] v) {
        MemorySegment s = arena.allocate((long) v.length * Float.BYTES, 64);
        MemorySegment.copy(v, 0, s, JAVA_FLOAT, 0, v.length);
        return s;
    }

    /** Tokenizes and embeds; truncation, if any, is in the returned batch. */
    public static float[][] embed(BertEncoder encoder, WordPieceTokenizer tokenizer, List<String> sentences) {
        return encoder.embed(tokenizer.encodeBatch(sentences));
    }
}
