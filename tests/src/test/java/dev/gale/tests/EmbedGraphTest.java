package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.embed.EmbedOp;
import dev.gale.kernels.embed.TableFormat;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q8_0;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import dev.gale.opencl.OpenClDeviceProvider;
import org.junit.jupiter.api.Test;

/** Embedding lookups of every table format on every backend give exactly the stored rows, dequantized. */
class EmbedGraphTest {
    private static final int VOCAB = 50;
    private static final int DIM = 64;
    private static final int[] IDS = {3, 0, 49, 3};

    @Test
    void everyFormatGathersTheStoredRowsOnEveryBackend() {
        Random r = new Random(8);
        float[] rows = new float[VOCAB * DIM];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = (float) r.nextGaussian();
        }
        for (TableFormat f : TableFormat.values()) {
            long rowElems = f.rowElements(DIM);
            try (Buffer src = Buffers.f32("rows", rows);
                 Buffer table = Buffers.allocate("table", f.dtype(), VOCAB * rowElems);
                 Buffer want = Buffers.allocate("want", DType.F32, (long) VOCAB * DIM)) {
                long rb = f.dtype().byteSize(rowElems);
                for (int v = 0; v < VOCAB; v++) {
                    long s = 4L * v * DIM;
                    switch (f) {
                        case F32 -> table.segment().asSlice(rb * v, rb).copyFrom(src.segment().asSlice(s, rb));
                        case F16 -> {
                            for (int j = 0; j < DIM; j++) {
                                table.segment().set(ValueLayout.JAVA_SHORT_UNALIGNED, rb * v + 2L * j,
                                        Float.floatToFloat16(rows[v * DIM + j]));
                            }
                        }
                        case Q8_0 -> Q8_0.quantize(src.segment(), s, table.segment(), rb * v, DIM);
                        case Q4_0 -> Q4_0.quantize(src.segment(), s, table.segment(), rb * v, DIM);
                    }
                    // What the table holds, decoded independently of the op.
                    for (int j = 0; j < DIM; j++) {
                        want.setFloat((long) v * DIM + j, switch (f) {
                            case F32 -> rows[v * DIM + j];
                            case F16 -> Float.float16ToFloat(Float.floatToFloat16(rows[v * DIM + j]));
                            default -> Float.NaN;
                        });
                    }
                    if (f == TableFormat.Q8_0) {
                        Q8_0.dequantize(table.segment(), rb * v, want.segment(), s, DIM);
                    } else if (f == TableFormat.Q4_0) {
                        Q4_0.dequantize(table.segment(), rb * v, want.segment(), s, DIM);
                    }
                }
                TaskGraph g = new TaskGraph("embed");
                TensorParam tp = g.tensor("table", f.dtype(), VOCAB, rowElems);
                TensorParam ip = g.tensor("ids", DType.I32, IDS.length);
                TensorParam op = g.tensor("out", DType.F32, IDS.length, DIM);
                EmbedOp embed = new EmbedOp(f, DIM);
                g.launch("embed", embed, tp, ip, op);
                List<Plan> plans = new ArrayList<>();
                plans.add(g.compile(Devices.cpu()));
                plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.REFERENCE)));
                plans.add(g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(ImplPath.EMULATOR)));
                new OpenClDeviceProvider().devices().forEach(d -> plans.add(g.compile(d)));
                for (int pi = 0; pi < plans.size(); pi++) {
                    Plan plan = plans.get(pi);
                    try (Buffer ids = Buffers.allocate("ids", DType.I32, IDS.length);
                         Buffer out = Buffers.allocate("out", DType.F32, (long) IDS.length * DIM);
                         Bindings b = plan.newBindings()) {
                        for (int t = 0; t < IDS.length; t++) {
                            ids.setInt(t, IDS[t]);
                        }
                        b.bind(tp, table).bind(ip, ids).bind(op, out);
                        plan.run(b);
                        for (int t = 0; t < IDS.length; t++) {
                            for (int j = 0; j < DIM; j++) {
                                assertEquals(want.getFloat((long) IDS[t] * DIM + j), out.getFloat((long) t * DIM + j),
                                        f + " on " + plan.describe() + " token " + t + " element " + j);
                            }
                        }
                        if (pi < 2) { // the host paths reject a bad id; kernels write a zero row
                            ids.setInt(1, VOCAB);
                            assertThrows(ShapeMismatchException.class, () -> plan.run(b));
                        }
                    }
                }
            }
        }
    }
}
