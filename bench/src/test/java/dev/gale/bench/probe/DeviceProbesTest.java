package dev.gale.bench.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.bench.BenchDevices;
import dev.gale.bench.EmulatorDevice;
import dev.gale.bench.Roofline;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.emulator.Emulator;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelRunner;
import dev.gale.kernels.probe.DeviceProbeKernels;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The device probes: their kernels compute what they claim on the emulator and on every device with a kernel runner
 * (PoCL here), the probe set is well formed through a runner that measures no time, and a probe that did not read
 * its stream fails instead of becoming a roofline. No timings are asserted.
 */
class DeviceProbesTest {
    private static final DeviceProbes.Config TINY = new DeviceProbes.Config(64 << 10, 2, 0, 1);

    /** The emulator and every real device with a runner. */
    private static List<Device> targets() {
        List<Device> t = new ArrayList<>();
        t.add(new EmulatorDevice("emu:0", DeviceType.GPU, false));
        t.addAll(BenchDevices.withRunner());
        return t;
    }

    @Test
    void kernelsComputeTheSumTheTriadAndTheFmaChainsOnEveryTarget() {
        int n = 10_007; // not a multiple of the grid: the tails run
        for (Device d : targets()) {
            KernelRunner r = d.kernelRunner();
            Grid g = DeviceProbes.grid(d);
            int items = g.globalSize(0);
            try (Buffer x = Buffers.allocate("x", DType.F32, n); Buffer partial = Buffers.allocate("p", DType.F32, items);
                 Buffer a = Buffers.allocate("a", DType.F32, n); Buffer c = Buffers.allocate("c", DType.F32, n)) {
                double want = 0;
                for (int i = 0; i < n; i++) {
                    x.setFloat(i, i % 13);
                    c.setFloat(i, i & 3);
                    want += i % 13;
                }
                r.run(DeviceProbeKernels.class, "readSum", g, x, partial, (long) n);
                double got = 0;
                for (int i = 0; i < items; i++) {
                    got += partial.getFloat(i);
                }
                assertEquals(want, got, 0.0, d.id() + " readSum");

                r.run(DeviceProbeKernels.class, "triad", g, a, x, c, 3.0f, (long) n);
                for (int i = 0; i < n; i++) {
                    assertEquals(x.getFloat(i) + 3.0f * c.getFloat(i), a.getFloat(i), 0.0f, d.id() + " triad " + i);
                }

                int iterations = 37;
                r.run(DeviceProbeKernels.class, "fmaChains", g, partial, iterations);
                for (int item : new int[] {0, 1, items / 2, items - 1}) {
                    // Math.fma is exact on both sides and the final adds are in the kernel's order: bit-equal.
                    float seed = (float) (item & 1023) * (1.0f / 1024.0f);
                    float[] chain = new float[DeviceProbeKernels.FMA_CHAINS];
                    for (int k = 0; k < chain.length; k++) {
                        chain[k] = seed + k;
                        for (int it = 0; it < iterations; it++) {
                            chain[k] = Math.fma(chain[k], 0.5f, 0.5f);
                        }
                    }
                    float sum = ((chain[0] + chain[1]) + (chain[2] + chain[3]))
                            + ((chain[4] + chain[5]) + (chain[6] + chain[7]));
                    assertEquals(sum, partial.getFloat(item), 0.0f, d.id() + " fmaChains item " + item);
                }
            }
        }
    }

    @Test
    void aRunnerThatMeasuresNoTimeIsTimedOnTheHost() {
        Device d = new EmulatorDevice("emu:0", DeviceType.GPU, false);
        ProbeSet set = DeviceProbes.measure(d, TINY);
        int items = DeviceProbes.grid(d).globalSize(0);
        assertEquals(items, set.allThreads());
        assertEquals(64 << 10, set.bytesPerStream());
        for (Roofline r : Roofline.values()) {
            ProbeResult p = set.get(r, false);
            assertEquals(items, p.threads());
            assertEquals(TINY.reps(), p.reps());
            assertTrue(p.bestSeconds() > 0 && Double.isFinite(p.value()) && p.value() > 0, p.toString());
        }
        assertEquals(64 << 10, set.get(Roofline.READ_BW, false).workPerRep());
        assertEquals(3 * (64 << 10), set.get(Roofline.TRIAD_BW, false).workPerRep());
        assertEquals(0, set.get(Roofline.FMA_PEAK, false).workPerRep() % (2.0 * DeviceProbeKernels.FMA_CHAINS * items));
    }

    @Test
    void aReadProbeThatSkipsItsStreamFails() {
        KernelRunner lazy = (owner, method, grid, args) -> 1_000; // claims a microsecond, writes nothing
        Device d = new EmulatorDevice("lazy:0", DeviceType.GPU, false, lazy);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> DeviceProbes.measure(d, TINY));
        assertTrue(e.getMessage().contains("did not read the whole stream"), e.getMessage());
    }

    @Test
    void onlyGpusAndOwnMemoryDevicesHaveTheirOwnRoofline() {
        assertTrue(DeviceProbes.ownRoofline(new EmulatorDevice("g", DeviceType.GPU, false)));
        assertTrue(DeviceProbes.ownRoofline(new EmulatorDevice("g", DeviceType.GPU, true)));
        assertTrue(DeviceProbes.ownRoofline(new EmulatorDevice("a", DeviceType.ACCELERATOR, false)));
        assertFalse(DeviceProbes.ownRoofline(new EmulatorDevice("c", DeviceType.CPU, true)));
        for (Device d : BenchDevices.withRunner()) {
            if (d.capabilities().type() == DeviceType.CPU && d.capabilities().unifiedMemory()) {
                assertFalse(DeviceProbes.ownRoofline(d), d.toString()); // PoCL keeps the host probes
            }
        }
    }

    @Test
    void deviceTimeFallsBackToTheHostClockOnlyWhenTheRunnerSaysZero() {
        assertEquals(42, DeviceTime.nanos(() -> 42));
        assertTrue(DeviceTime.nanos(() -> 0) > 0);
        try (Buffer out = Buffers.allocate("o", DType.F32, 1)) {
            assertEquals(0, Emulator.sequential().run(DeviceProbeKernels.class, "fmaChains", Grid.of1(1, 1), out, 1));
        }
    }
}
