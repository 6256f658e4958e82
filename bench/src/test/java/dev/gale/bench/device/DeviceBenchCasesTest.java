package dev.gale.bench.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.gale.bench.BenchCase;
import dev.gale.bench.EmulatorDevice;
import dev.gale.bench.quant.QuantBenchCases;
import dev.gale.bench.report.Table;
import dev.gale.bench.w4a4.W4AxBenchCases;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.gemm.GemvF16;
import dev.gale.kernels.gemm.GemvF32;
import dev.gale.kernels.quant.ActivationQuant;
import dev.gale.kernels.quant.Q4_0Matmul;
import dev.gale.kernels.quant.Q8_0Matmul;
import dev.gale.kernels.quant.W4AxMatmul;
import dev.gale.kernels.quant.W4Weights;
import dev.gale.kernels.sampling.Argmax;
import dev.gale.opencl.OpenClDevice;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The device provider's cases are well formed, and small ones compute what the references compute. No timings. */
class DeviceBenchCasesTest {
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static Device device() {
        List<Device> ds = DeviceBenchCases.devices();
        assumeFalse(ds.isEmpty(), "no device with a kernel runner");
        return ds.getFirst();
    }

    @Test
    void noDeviceMeansNoCasesOtherwiseOneCaseListPerDevice() {
        List<BenchCase> all = new DeviceBenchCases().cases(true);
        assertEquals(DeviceBenchCases.devices().isEmpty(), all.isEmpty());
    }

    @Test
    void casesAreWellFormedAndPairedWithTheirOpAndShape() {
        Device d = device();
        for (boolean quick : new boolean[] {true, false}) {
            List<BenchCase> cases = DeviceBenchCases.cases(d, quick);
            assertFalse(cases.isEmpty());
            Set<String> labels = new HashSet<>();
            Set<String> ops = new HashSet<>();
            for (BenchCase c : cases) {
                String label = c.op() + " " + c.shape() + " " + c.impl();
                assertTrue(labels.add(label), "duplicate case " + label);
                ops.add(c.op());
                assertTrue(c.bytes() > 0, label);
                assertTrue(c.flops() > 0, label);
                assertNotNull(c.roofline(), label);
                assertTrue(c.impl().contains(d.id()), label);
                assertFalse(c.impl().startsWith("vector-api"), label);
                assertEquals(c.op() + " " + c.shape(), c.pairKey(), label);
            }
            for (String op : List.of("gemv f32", "gemv f16", "rmsnorm", "softmax", "swiglu", "residual add",
                    "argmax", "rope adjacent_pairs")) {
                assertTrue(ops.contains(op), op + " missing in " + ops);
            }
        }
        // The big GEMV has at least 128 MiB of F32 weights.
        assertTrue(DeviceBenchCases.cases(d, false).stream()
                .anyMatch(c -> c.op().equals("gemv f32") && c.bytes() >= 128.0 * (1 << 20)));
    }

    @Test
    void smallGemvF32MatchesTheReference() {
        int out = 37;
        int in = 70;
        try (DeviceCase c = DeviceBenchCases.gemv(device(), false, out, in, "test", 0)) {
            c.setup();
            c.run();
            Buffer w = c.buffer("w");
            Buffer x = c.buffer("x");
            float[] want = new float[out];
            MemorySegment ws = MemorySegment.ofArray(want);
            GemvF32.reference(w.segment(), 0, x.segment(), 0, ws, 0, out, in);
            for (int o = 0; o < out; o++) {
                double sumAbs = 0;
                for (int i = 0; i < in; i++) {
                    sumAbs += Math.abs((double) w.getFloat((long) o * in + i) * x.getFloat(i));
                }
                assertEquals(want[o], c.buffer("y").getFloat(o), 1e-5 * sumAbs + 1e-30, "row " + o);
            }
            assertEquals(1, c.deviceSeconds().length);
            assertTrue(c.deviceSeconds()[0] >= 0);
        }
    }

    @Test
    void smallGemvF16MatchesTheReference() {
        int out = 9;
        int in = 130;
        try (DeviceCase c = DeviceBenchCases.gemv(device(), true, out, in, "test", 0)) {
            c.setup();
            c.run();
            Buffer w = c.buffer("w");
            Buffer x = c.buffer("x");
            float[] want = new float[out];
            GemvF16.reference(w.segment(), 0, x.segment(), 0, MemorySegment.ofArray(want), 0, out, in);
            for (int o = 0; o < out; o++) {
                double sumAbs = 0;
                for (int i = 0; i < in; i++) {
                    float wi = Float.float16ToFloat(w.segment().getAtIndex(HALF, (long) o * in + i));
                    sumAbs += Math.abs((double) wi * x.getFloat(i));
                }
                assertEquals(want[o], c.buffer("y").getFloat(o), 1e-5 * sumAbs + 1e-30, "row " + o);
            }
        }
    }

    /** The W4A4-vs-F32 GEMM pair: each device case computes its reference (small shape, a cut row tile). */
    @Test
    void smallW4AxAndF32GemmsMatchTheReference() {
        int tokens = 17;
        int in = 256;
        int out = 37;
        Device d = device();
        // 17 tokens: the quantizer runs on the worker pool, as it does at the report's 64
        try (DeviceCase c = W4AxGemmDeviceCases.w4a4(d, tokens, in, out); Arena arena = Arena.ofShared()) {
            c.setup();
            c.run();
            W4Weights w = W4AxBenchCases.syntheticW4(arena, out, in);
            ActivationQuant a = ActivationQuant.allocate(tokens, in, ActivationQuant.uniform(in, false), arena);
            a.quantize(W4AxGemmDeviceCases.activations(arena, tokens, in), 0, tokens);
            for (int t = 0; t < tokens; t++) {
                for (int o = 0; o < out; o++) {
                    assertEquals(W4AxMatmul.reference(w, a, t, o), c.buffer("y").getFloat((long) t * out + o),
                            Numerics.dotBound(W4AxMatmul.sumAbs(w, a, t, o), in), "w4a4 token " + t + " row " + o);
                }
            }
        }
        try (DeviceCase c = W4AxGemmDeviceCases.f32(d, tokens, in, out)) {
            c.setup();
            c.run();
            Buffer w = c.buffer("w");
            Buffer x = c.buffer("x");
            for (int t = 0; t < tokens; t++) {
                for (int o = 0; o < out; o++) {
                    double want = 0;
                    double sumAbs = 0;
                    for (int i = 0; i < in; i++) {
                        double p = (double) w.getFloat((long) o * in + i) * x.getFloat((long) t * in + i);
                        want += p;
                        sumAbs += Math.abs(p);
                    }
                    assertEquals(want, c.buffer("y").getFloat((long) t * out + o), Numerics.dotBound(sumAbs, in),
                            "f32 token " + t + " row " + o);
                }
            }
        }
    }

    @Test
    void smallQuantGemvsMatchTheReference() {
        QuantBenchCases.Shape shape = new QuantBenchCases.Shape(96, 37, "test");
        for (QuantBenchCases.Format f : QuantBenchCases.Format.values()) {
            for (String kernel : new String[] {"gemvSplit", "gemvSplitGroup", "block"}) {
                try (DeviceCase c = DeviceBenchCases.quantGemv(device(), f, shape, kernel, 64);
                     Arena arena = Arena.ofConfined()) {
                    assertTrue(c.impl().endsWith(kernel.equals("block") ? "Gemv" : kernel), c.impl());
                    c.setup();
                    c.run();
                    MemorySegment w = QuantBenchCases.syntheticWeights(arena, f, shape.out(), shape.in());
                    float[] want = new float[shape.out()];
                    MemorySegment x = c.buffer("x").segment();
                    if (f == QuantBenchCases.Format.Q8_0) {
                        Q8_0Matmul.INSTANCE.referenceF32(w, 0, shape.out(), shape.in(), x, 0, 1, MemorySegment.ofArray(want), 0);
                    } else {
                        Q4_0Matmul.INSTANCE.referenceF32(w, 0, shape.out(), shape.in(), x, 0, 1, MemorySegment.ofArray(want), 0);
                    }
                    for (int o = 0; o < shape.out(); o++) {
                        // weights are d·q with d = 2^-8 and |q| <= 128, x in [-1, 1]
                        double bound = Numerics.dotBound(shape.in() * 0.5, shape.in());
                        assertEquals(want[o], c.buffer("y").getFloat(o), bound, c + " row " + o);
                    }
                }
            }
        }
    }

    @Test
    void smallArgmaxMatchesTheReference() {
        int n = 1000;
        try (DeviceCase c = DeviceBenchCases.argmax(device(), n)) {
            c.setup();
            c.buffer("index").setInt(0, -7);
            c.run();
            assertEquals(Argmax.reference(c.buffer("x").segment(), 0, n), c.buffer("index").getInt(0));
        }
    }

    @Test
    void interleavedQuantGemvTableHasOneWellFormedRowWhenQuick() {
        Device d = device();
        Table t = InterleavedQuantGemv.measure(d, true);
        assertTrue(t.title().contains(d.id()));
        assertEquals(1, t.rows().size());
        List<String> row = t.rows().getFirst();
        assertEquals(t.columns().size(), row.size());
        assertEquals("gemvSplit", row.get(2));
        assertTrue(Double.parseDouble(row.get(6)) > 0, row.toString());
    }

    @Test
    void overheadTableHasEveryRowAndTheCacheOrigins() {
        assumeTrue(device() instanceof OpenClDevice, "the overhead table is OpenCL's");
        OpenClDevice d = (OpenClDevice) device();
        Table t = DeviceOverhead.measure(d, true);
        assertTrue(t.title().contains(d.id()));
        assertEquals(9, t.rows().size());
        String origins = t.rows().getFirst().get(4);
        assertTrue(origins.contains("cold BUILT_FROM_SOURCE"), origins);
        assertTrue(origins.contains("again MEMORY_CACHE"), origins);
        assertTrue(origins.contains("new context DISK_CACHE"), origins);
        assertTrue(t.markdown().startsWith("## " + t.title()));
    }

    @Test
    void aDeviceOfAnyBackendRunsTheCasesThroughItsKernelRunnerAndIsTimedOnTheHostWhenTheRunnerMeasuresNothing() {
        // The emulator's runner returns 0 ns: the case must fall back to host time, and compute the same result.
        Device emu = new EmulatorDevice("emu:0", DeviceType.GPU, false);
        int out = 13;
        int in = 70;
        try (DeviceCase c = DeviceBenchCases.gemv(emu, false, out, in, "test", 0)) {
            assertEquals("emu:0 emulated GPU", c.impl());
            assertSame(emu, c.device());
            c.setup();
            c.run();
            c.run();
            float[] want = new float[out];
            GemvF32.reference(c.buffer("w").segment(), 0, c.buffer("x").segment(), 0, MemorySegment.ofArray(want), 0,
                    out, in);
            for (int o = 0; o < out; o++) {
                double sumAbs = 0;
                for (int i = 0; i < in; i++) {
                    sumAbs += Math.abs((double) c.buffer("w").getFloat((long) o * in + i) * c.buffer("x").getFloat(i));
                }
                assertEquals(want[o], c.buffer("y").getFloat(o), 1e-5 * sumAbs + 1e-30, "row " + o);
            }
            double[] s = c.deviceSeconds();
            assertEquals(2, s.length);
            assertTrue(s[0] > 0, "host-timed, never 0: " + s[0]);
        }
        try (DeviceCase c = DeviceBenchCases.argmax(emu, 500)) {
            c.setup();
            c.run();
            assertEquals(Argmax.reference(c.buffer("x").segment(), 0, 500), c.buffer("index").getInt(0));
        }
    }

    @Test
    void aDeviceWithoutAKernelRunnerIsRefused() {
        Device cpu = dev.gale.core.device.Devices.cpu();
        assertThrows(IllegalArgumentException.class, () -> DeviceBenchCases.gemv(cpu, false, 4, 4, "test", 0));
        assertFalse(DeviceBenchCases.devices().contains(cpu));
    }
}
