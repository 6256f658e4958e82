package dev.gale.models.bert;

import dev.gale.models.onnx.Node;
import dev.gale.models.onnx.OnnxDataType;
import dev.gale.models.onnx.OnnxFormatException;
import dev.gale.models.onnx.OnnxModel;
import dev.gale.models.onnx.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A BERT encoder's weights taken from its ONNX graph, fp32 ({@code MatMul}) or dynamically quantized int8
 * ({@code MatMulInteger}, uint8 embeddings through {@code DequantizeLinear}).
 *
 * <p>The exporter leaves the weight matrices anonymous ({@code onnx::MatMul_787}, …), so they are taken in graph
 * order: six per layer, Q, K, V, attention output, FFN in, FFN out. Each is then confirmed by the named bias its
 * output flows into ({@code MatMul → Add(bias)}, or {@code MatMulInteger → Cast → Mul → Add(bias)}), so a graph
 * laid out differently is an {@link OnnxFormatException}, never silently swapped weights.
 */
public record BertWeights(BertConfig config, boolean int8, float[] wordEmbeddings, float[] positionEmbeddings,
        float[] typeEmbeddings, float[] embLnG, float[] embLnB, List<Layer> layers) {

    /** One encoder layer. */
    public record Layer(Linear q, Linear k, Linear v, Linear o, float[] ln1G, float[] ln1B, Linear up, Linear down,
            float[] ln2G, float[] ln2B) {
    }

    private static final String[] SLOTS = {"attention.self.query", "attention.self.key", "attention.self.value",
        "attention.output.dense", "intermediate.dense", "output.dense"};

    /** all-MiniLM-L6-v2's heads (not recorded in the weights). */
    public static final int MINILM_HEADS = 12;
    private static final float BERT_LN_EPS = 1e-12f;

    public static BertWeights from(OnnxModel m, int heads) {
        boolean int8 = !m.nodes("MatMulInteger").isEmpty();
        float[] word = embedding(m, "embeddings.word_embeddings.weight");
        float[] pos = embedding(m, "embeddings.position_embeddings.weight");
        float[] type = embedding(m, "embeddings.token_type_embeddings.weight");
        float[] lnG = m.initializer("embeddings.LayerNorm.weight").floats();
        int hidden = lnG.length;
        int layers = 0;
        while (m.initializers().containsKey("encoder.layer." + layers + ".output.LayerNorm.weight")) {
            layers++;
        }
        if (layers == 0 || hidden % heads != 0) {
            throw new OnnxFormatException(m.source(), "GraphProto.initializer", -1, "not a BERT encoder: " + layers
                    + " layers of hidden size " + hidden + " for " + heads + " heads");
        }
        int ffn = m.initializer("encoder.layer.0.intermediate.dense.bias").floats().length;
        BertConfig cfg = new BertConfig(word.length / hidden, pos.length / hidden, type.length / hidden, hidden, layers,
                heads, ffn, BERT_LN_EPS);
        requireRows(m, word, hidden, "embeddings.word_embeddings.weight");
        requireRows(m, pos, hidden, "embeddings.position_embeddings.weight");
        requireRows(m, type, hidden, "embeddings.token_type_embeddings.weight");

        List<Node> matmuls = weightMatMuls(m, int8);
        if (matmuls.size() != 6 * layers) {
            throw new OnnxFormatException(m.source(), "GraphProto.node", -1, matmuls.size() + " weight "
                    + (int8 ? "MatMulInteger" : "MatMul") + " nodes, expected 6 per layer for " + layers + " layers");
        }
        Map<String, List<Node>> consumers = m.consumers();
        List<Layer> out = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            String p = "encoder.layer." + l + ".";
            Linear[] lin = new Linear[6];
            for (int s = 0; s < 6; s++) {
                Node n = matmuls.get(6 * l + s);
                String biasName = p + SLOTS[s] + ".bias";
                String fed = biasOf(n, m, consumers);
                if (!biasName.equals(fed)) {
                    throw new OnnxFormatException(m.source(), "GraphProto.node[" + n.index() + "] (" + n.opType()
                            + " '" + n.name() + "')", n.offset(), "weight feeds bias '" + fed + "', expected '"
                            + biasName + "': the graph's weight order is not Q, K, V, O, FFN in, FFN out");
                }
                int in = s == 5 ? ffn : hidden;
                int o = s == 4 ? ffn : hidden;
                lin[s] = linear(m, n, int8, m.initializer(biasName).require(OnnxDataType.FLOAT).requireShape(o)
                        .floats(), in, o);
            }
            out.add(new Layer(lin[0], lin[1], lin[2], lin[3], vec(m, p + "attention.output.LayerNorm.weight", hidden),
                    vec(m, p + "attention.output.LayerNorm.bias", hidden), lin[4], lin[5],
                    vec(m, p + "output.LayerNorm.weight", hidden), vec(m, p + "output.LayerNorm.bias", hidden)));
        }
        return new BertWeights(cfg, int8, word, pos, type, vec(m, "embeddings.LayerNorm.weight", hidden),
                vec(m, "embeddings.LayerNorm.bias", hidden), List.copyOf(out));
    }

    private static List<Node> weightMatMuls(OnnxModel m, boolean int8) {
        List<Node> out = new ArrayList<>();
        for (Node n : m.nodes(int8 ? "MatMulInteger" : "MatMul")) {
            if (m.initializers().containsKey(n.input(1))) {
                out.add(n);
            }
        }
        return out;
    }

    /** The named initializer added to this weight product's output, following Cast and Mul (the int8 rescale). */
    private static String biasOf(Node n, OnnxModel m, Map<String, List<Node>> consumers) {
        String value = n.output(0);
        for (int hop = 0; hop < 4; hop++) {
            List<Node> next = consumers.getOrDefault(value, List.of());
            if (next.size() != 1) {
                return "(none: " + next.size() + " consumers of " + value + ")";
            }
            Node c = next.get(0);
            if (c.opType().equals("Add")) {
                String other = c.input(0).equals(value) ? c.input(1) : c.input(0);
                return m.initializers().containsKey(other) ? other : "(none: Add of " + other + ")";
            }
            if (!c.opType().equals("Cast") && !c.opType().equals("Mul")) {
                return "(none: " + c.opType() + ")";
            }
            value = c.output(0);
        }
        return "(none)";
    }

    private static Linear linear(OnnxModel m, Node n, boolean int8, float[] bias, int in, int out) {
        if (!int8) {
            return new F32Linear(m.initializer(n.input(1)).require(OnnxDataType.FLOAT).requireShape(in, out).floats(),
                    bias, in, out);
        }
        Tensor w = m.initializer(n.input(1)).require(OnnxDataType.INT8).requireShape(in, out);
        String base = n.input(1).endsWith("_quantized")
                ? n.input(1).substring(0, n.input(1).length() - "_quantized".length()) : n.input(1);
        float[] scale = m.initializer(base + "_scale").require(OnnxDataType.FLOAT).requireShape(out).floats();
        Tensor zpT = m.initializer(n.input(3));
        for (byte z : zpT.bytes()) {
            if (z != 0) {
                throw new OnnxFormatException(m.source(), "initializer '" + zpT.name() + "'", zpT.offset(),
                        "weight zero point " + z + ": only symmetric (zero point 0) int8 weights are supported");
            }
        }
        return new Int8Linear(w.bytes(), scale, bias, in, out);
    }

    /** An embedding table as F32: stored so, or uint8 with a scalar scale and zero point (DequantizeLinear). */
    private static float[] embedding(OnnxModel m, String name) {
        Tensor t = m.initializers().get(name);
        if (t != null) {
            return t.require(OnnxDataType.FLOAT).floats();
        }
        Tensor q = m.initializer(name + "_quantized").require(OnnxDataType.UINT8);
        float[] scale = m.initializer(name + "_scale").require(OnnxDataType.FLOAT).requireShape().floats();
        byte[] zp = m.initializer(name + "_zero_point").require(OnnxDataType.UINT8).requireShape().bytes();
        byte[] b = q.bytes();
        float[] out = new float[b.length];
        int z = zp[0] & 0xFF;
        for (int i = 0; i < b.length; i++) {
            out[i] = (float) ((b[i] & 0xFF) - z) * scale[0];
        }
        return out;
    }

    private static void requireRows(OnnxModel m, float[] table, int hidden, String name) {
        if (table.length == 0 || table.length % hidden != 0) {
            throw new OnnxFormatException(m.source(), "initializer '" + name + "'", -1, table.length
                    + " elements are not rows of " + hidden);
        }
    }

    private static float[] vec(OnnxModel m, String name, int n) {
        return m.initializer(name).require(OnnxDataType.FLOAT).requireShape(n).floats();
    }
}
