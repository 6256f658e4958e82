package dev.gale.models.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.gale.models.onnx.Node;
import dev.gale.models.onnx.OnnxModel;
import dev.gale.models.onnx.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The int8 scheme bit for bit: ONNX Runtime is asked for every {@code DynamicQuantizeLinear} input and output and
 * every {@code MatMulInteger} output of the int8 graph (as extra graph outputs), and Gale's {@link DynamicQuantizer}
 * and {@link Int8MatMul}, fed ONNX Runtime's own inputs, must give the same uint8 tensors, scales, zero points and
 * int32 products exactly — all 36 products and their quantized inputs.
 */
class Int8OpsMatchOnnxRuntimeTest {
    @Test
    void quantizerAndIntegerProductAreExact() throws Exception {
        OnnxModel om = MiniLm.onnx(MiniLm.INT8);
        List<Node> products = om.nodes("MatMulInteger");
        assertEquals(36, products.size());
        Set<String> names = new LinkedHashSet<>();
        Map<String, Node> quantizerOf = om.producers();
        for (Node n : products) {
            Node dq = quantizerOf.get(n.input(0));
            assertEquals("DynamicQuantizeLinear", dq.opType());
            names.add(dq.input(0));
            names.addAll(dq.outputs());
            names.add(n.output(0));
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
        try (OrtSession s = env.createSession(model, new OrtSession.SessionOptions());
                OnnxTensor ti = OnnxTensor.createTensor(env, ids); OnnxTensor tm = OnnxTensor.createTensor(env, mask);
                OnnxTensor tt = OnnxTensor.createTensor(env, new long[1][rows]);
                OrtSession.Result r = s.run(Map.of("input_ids", ti, "attention_mask", tm, "token_type_ids", tt))) {
            for (Node n : products) {
                Node dq = quantizerOf.get(n.input(0));
                float[] x = flat((float[][][]) r.get(dq.input(0)).get().getValue());
                byte[][][] q = (byte[][][]) r.get(dq.output(0)).get().getValue();
                float scale = (Float) r.get(dq.output(1)).get().getValue();
                int zp = ((Byte) r.get(dq.output(2)).get().getValue()) & 0xFF;
                int in = x.length / rows;
                float[] p = DynamicQuantizer.params(MemorySegment.ofArray(x), 0, rows, in);
                assertEquals(scale, p[0], n.name() + " scale");
                assertEquals(zp, (int) p[1], n.name() + " zero point");
                int[] a = new int[x.length];
                DynamicQuantizer.quantize(MemorySegment.ofArray(x), 0, rows, in, p[0], p[1], a);
                for (int i = 0; i < a.length; i++) {
                    assertEquals(q[0][i / in][i % in] & 0xFF, a[i] + zp, n.name() + " quantized element " + i);
                }
                Tensor w = om.initializer(n.input(1));
                int out = (int) w.dims()[1];
                byte[] wInOut = w.bytes();
                byte[] wOutIn = new byte[wInOut.length];
                for (int o = 0; o < out; o++) {
                    for (int k = 0; k < in; k++) {
                        wOutIn[o * in + k] = wInOut[k * out + o];
                    }
                }
                int[][][] y = (int[][][]) r.get(n.output(0)).get().getValue();
                int[] acc = new int[out];
                for (int t = 0; t < rows; t++) {
                    Int8MatMul.row(a, t * in, wOutIn, in, out, acc);
                    for (int c = 0; c < out; c++) {
                        assertEquals(y[0][t][c], acc[c], n.name() + " row " + t + " col " + c);
                    }
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
