package dev.gale.models.bert;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import dev.gale.kernels.quant.DynamicQuantU8;
import dev.gale.kernels.quant.GemmU8S8;
import dev.gale.models.onnx.Node;
import dev.gale.models.onnx.OnnxModel;
import dev.gale.models.onnx.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The int8 scheme bit for bit: ONNX Runtime (running the graph as written) is asked for every
 * {@code DynamicQuantizeLinear} input and output and every linear layer's output after its bias {@code Add} (as extra
 * graph outputs), and Gale's {@link DynamicQuantU8} and {@link GemmU8S8}, fed ONNX Runtime's own inputs, must give
 * the same uint8 tensors, scales, zero points and float outputs exactly — all 36 products.
 */
class Int8OpsMatchOnnxRuntimeTest {
    @Test
    void quantizerAndIntegerProductAreExact() throws Exception {
        OnnxModel om = MiniLm.onnx(MiniLm.INT8);
        List<Node> products = om.nodes("MatMulInteger");
        assertEquals(36, products.size());
        Set<String> names = new LinkedHashSet<>();
        Map<String, Node> quantizerOf = om.producers();
        Map<String, List<Node>> consumers = om.consumers();
        Map<Node, Node> biasAdd = new HashMap<>();
        for (Node n : products) {
            Node dq = quantizerOf.get(n.input(0));
            assertEquals("DynamicQuantizeLinear", dq.opType());
            names.add(dq.input(0));
            names.addAll(dq.outputs());
            Node c = n;
            while (!c.opType().equals("Add")) {
                c = consumers.get(c.output(0)).getFirst();
            }
            biasAdd.put(n, c);
            names.add(c.output(0));
        }
        byte[] model = OnnxOutputs.withOutputs(MiniLm.onnxBytes(MiniLm.INT8), names.toArray(new String[0]));
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        WordPieceTokenizer.Batch one = MiniLm.tokenizer().encodeBatch(
                List.of("A man is playing a guitar in the park on a sunny afternoon."));
        int rows = one.seq();
        long[][] ids = new long[1][rows];
        long[][] mask = new long[1][rows];
        for (int t = 0; t < rows; t++) {
            ids[0][t] = one.ids()[t];
            mask[0][t] = 1;
        }
        try (OrtSession s = OrtOracle.create(model, OptLevel.BASIC_OPT); Arena arena = Arena.ofShared();
                OnnxTensor ti = OnnxTensor.createTensor(env, ids); OnnxTensor tm = OnnxTensor.createTensor(env, mask);
                OnnxTensor tt = OnnxTensor.createTensor(env, new long[1][rows]);
                OrtSession.Result r = s.run(Map.of("input_ids", ti, "attention_mask", tm, "token_type_ids", tt))) {
            MemorySegment len = arena.allocate(4);
            len.set(JAVA_INT, 0, rows);
            for (Node n : products) {
                Node dq = quantizerOf.get(n.input(0));
                float[] x = flat((float[][][]) r.get(dq.input(0)).get().getValue());
                byte[][][] q = (byte[][][]) r.get(dq.output(0)).get().getValue();
                float scale = (Float) r.get(dq.output(1)).get().getValue();
                int zp = ((Byte) r.get(dq.output(2)).get().getValue()) & 0xFF;
                int in = x.length / rows;
                MemorySegment qs = arena.allocate((long) rows * in);
                MemorySegment params = arena.allocate(8);
                DynamicQuantU8.reference(MemorySegment.ofArray(x), len, qs, params, 1, rows, in);
                assertEquals(scale, params.getAtIndex(JAVA_FLOAT, 0), n.name() + " scale");
                assertEquals(zp, (int) params.getAtIndex(JAVA_FLOAT, 1), n.name() + " zero point");
                for (int i = 0; i < rows * in; i++) {
                    assertEquals(q[0][i / in][i % in] & 0xFF, qs.get(JAVA_BYTE, i) & 0xFF,
                            n.name() + " quantized element " + i);
                }
                Tensor w = om.initializer(n.input(1));
                int out = (int) w.dims()[1];
                String base = n.input(1).substring(0, n.input(1).length() - "_quantized".length());
                Node add = biasAdd.get(n);
                String biasName = om.initializers().containsKey(add.input(0)) ? add.input(0) : add.input(1);
                MemorySegment y = arena.allocate(4L * rows * out);
                GemmU8S8.reference(qs, params, MemorySegment.ofArray(w.bytes()),
                        MemorySegment.ofArray(om.initializer(base + "_scale").floats()),
                        MemorySegment.ofArray(om.initializer(biasName).floats()), y, rows, rows, in, out);
                float[] want = flat((float[][][]) r.get(add.output(0)).get().getValue());
                for (int i = 0; i < rows * out; i++) {
                    assertEquals(want[i], y.getAtIndex(JAVA_FLOAT, i), 0f, n.name() + " row " + i / out + " col "
                            + i % out);
                }
            }
        }
    }
    private static float[] flat(float[][][] a) {
        int cols = a[0][0].length;
        float[] f = new float[a[0].length * cols];
        for (int t = 0; t < a[0].length; t++) {
            System.arraycopy(a[0][t], 0, f, t * cols, cols);
        }
        return f;
    }
}
