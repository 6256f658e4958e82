package dev.gale.models.llama;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.LlamaWeights;
import dev.gale.models.WeightConversion;
import dev.gale.models.WeightTensor;
import dev.gale.models.WeightType;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Quantizes an F32 model's matrices to Q8_0 or Q4_0 in memory (norms stay F32).
 *
 * <p>Blocks hold 32 values, so a feed-forward width that is not a multiple of 32 (stories260K's 172) is padded to
 * the next one: {@code w1} and {@code w3} get zero rows, {@code w2} zero columns. The padded gate and up outputs are
 * exactly 0, SwiGLU of 0 is 0, and the zero columns of {@code w2} meet those zeros, so the padded model computes the
 * same function; only the stored weights are quantized. Nothing else is padded: the other widths of a Llama model are
 * multiples of 32.
 */
public final class WeightQuantizer {
    private WeightQuantizer() {
    }

    public static LlamaModel quantize(LlamaModel m, WeightType target) {
        if (!target.isQuantized()) {
            throw new IllegalArgumentException("quantize to Q8_0 or Q4_0, not " + target);
        }
        LlamaConfig c = m.config();
        if (c.dim() % 32 != 0) {
            throw new IllegalArgumentException("model width " + c.dim() + " is not a multiple of 32");
        }
        int hidden = (c.hiddenDim() + 31) / 32 * 32;
        LlamaConfig pc = new LlamaConfig(c.dim(), hidden, c.layers(), c.heads(), c.kvHeads(), c.vocab(), c.seqLen(),
                c.ropeTheta(), c.normEps(), c.sharedClassifier());
        List<Buffer> backing = new ArrayList<>();
        Map<WeightTensor, WeightTensor> done = new IdentityHashMap<>();
        LlamaWeights w = m.weights();
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (LlamaWeights.Layer l : w.layers()) {
            layers.add(new LlamaWeights.Layer(l.attnNorm(), q(l.wq(), target, 0, 0, backing, done),
                    q(l.wk(), target, 0, 0, backing, done), q(l.wv(), target, 0, 0, backing, done),
                    q(l.wo(), target, 0, 0, backing, done), l.ffnNorm(),
                    q(l.w1(), target, hidden, 0, backing, done), q(l.w2(), target, 0, hidden, backing, done),
                    q(l.w3(), target, hidden, 0, backing, done)));
        }
        WeightTensor emb = q(w.tokenEmbedding(), target, 0, 0, backing, done);
        WeightTensor cls = q(w.classifier(), target, 0, 0, backing, done);
        List<Buffer> all = new ArrayList<>(w.backing());
        all.addAll(backing);
        // The source model's mappings stay open (the norms are still views of them); closing the result closes both.
        return new LlamaModel(pc, new LlamaWeights(emb, layers, w.finalNorm(), cls, all), m.tokenizer());
    }

    /** One F32 matrix as {@code target} (Q8_0 or Q4_0; rows of whole 32-value blocks), its buffer added to backing. */
    static WeightTensor matrix(WeightTensor t, WeightType target, List<Buffer> backing) {
        return q(t, target, 0, 0, backing, new IdentityHashMap<>());
    }

    /** {@code t} as {@code target}, with rows padded to {@code rowsTo} and columns to {@code colsTo} (0 = as is). */
    private static WeightTensor q(WeightTensor t, WeightType target, int rowsTo, int colsTo, List<Buffer> backing,
            Map<WeightTensor, WeightTensor> done) {
        WeightTensor prev = done.get(t);
        if (prev != null) {
            return prev;
        }
        if (t.type() != WeightType.F32 || t.shape().length != 2) {
            throw new IllegalArgumentException("only F32 matrices are quantized here; " + t + " is not one");
        }
        int rows = (int) t.rows();
        int cols = (int) t.rowLength();
        int outRows = Math.max(rows, rowsTo);
        int outCols = Math.max(cols, colsTo);
        if (outCols % 32 != 0) {
            throw new IllegalArgumentException(t + ": rows of " + outCols + " are not whole 32-value blocks");
        }
        long rowBytes = target.byteSize(outCols);
        Buffer out = Buffers.allocate(t.name() + "." + target, DType.U8, outRows * rowBytes);
        try (Buffer row = Buffers.allocate("row", DType.F32, outCols)) {
            for (int r = 0; r < outRows; r++) {
                row.segment().fill((byte) 0);
                if (r < rows) {
                    row.segment().asSlice(0, 4L * cols).copyFrom(t.data().segment().asSlice(4L * r * cols, 4L * cols));
                }
                WeightConversion.encodeRow(row.segment(), target, out.segment(), r * rowBytes, outCols);
            }
        }
        backing.add(out);
        WeightTensor qt = new WeightTensor(t.name(), target, new long[] {outRows, outCols}, out);
        done.put(t, qt);
        return qt;
    }

    /** What {@link #quantize} pads in {@code c}, for the user, or empty when nothing. */
    public static Optional<String> paddingNote(LlamaConfig c) {
        return c.hiddenDim() % 32 == 0 ? Optional.empty()
                : Optional.of("feed-forward width " + c.hiddenDim() + " padded to " + (c.hiddenDim() + 31) / 32 * 32);
    }
}
