package dev.gale.bench.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.bench.Roofline;
import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The probes compute what they claim to; no timing is asserted. */
class ProbesTest {
    private static WorkerPool pool2;
    private static WorkerPool pool3;

    @BeforeAll
    static void pools() {
        pool2 = new WorkerPool(2);
        pool3 = new WorkerPool(3);
    }

    @AfterAll
    static void closePools() {
        pool2.close();
        pool3.close();
    }

    /** Tiny streams: a few hundred KiB, an odd number of vectors so shares and tails are uneven. */
    private static RooflineProbes.Config tiny() {
        return new RooflineProbes.Config((long) Float.BYTES * ProbeKernels.LANES * 12_345, 3, 0, 1_000);
    }

    /** Probe streams never fit in the last-level cache: at least 1.5× the L3 this JVM reports, whatever its size. */
    @Test
    void streamsOutgrowTheL3() {
        long l3 = dev.gale.core.cpu.CpuDevice.instance().capabilities().cacheBytes()[2];
        for (RooflineProbes.Config c : new RooflineProbes.Config[] {RooflineProbes.Config.quick(),
            RooflineProbes.Config.standard()}) {
            assertTrue(c.bytesPerStream() >= 3 * l3 / 2, c + " against an L3 of " + l3 + " bytes");
        }
        assertEquals(1L << 40, RooflineProbes.Config.beyondLastCache(1L << 40), "larger requests are kept");
    }

    @Test
    void readSumMatchesScalarSumOnUnalignedRanges() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 10_000;
            MemorySegment seg = arena.allocate((long) n * Float.BYTES, 64);
            for (int i = 0; i < n; i++) {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (i * 7) % 13 - 6);
            }
            int[][] ranges = {{0, n}, {3, n}, {5, 5}, {1, 2}, {17, 17 + ProbeKernels.LANES * 8 + 5}, {0, 1000}};
            for (int[] r : ranges) {
                double expected = 0;
                for (int i = r[0]; i < r[1]; i++) {
                    expected += seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                }
                assertEquals(expected, ProbeKernels.readSum(seg, r[0], r[1]), 0.0, "range " + r[0] + ".." + r[1]);
            }
        }
    }

    @Test
    void readProbeSumsTheKnownPattern() {
        for (WorkerPool pool : new WorkerPool[] {pool2, pool3}) {
            try (RooflineProbes p = new RooflineProbes(tiny(), pool)) {
                double expected = 0;
                for (long i = 0; i < p.elements(); i++) {
                    expected += i & 3;
                }
                assertEquals(expected, p.expectedReadSum(), 0.0);
                assertEquals(expected, p.read(true), 0.0);
                assertEquals(expected, p.read(false), 0.0, pool.threads() + " threads");
            }
        }
    }

    @Test
    void triadWritesBPlusSTimesC() {
        for (WorkerPool pool : new WorkerPool[] {pool2, pool3}) {
            for (boolean single : new boolean[] {true, false}) {
                try (RooflineProbes p = new RooflineProbes(tiny(), pool)) {
                    p.triad(single);
                    float s = RooflineProbes.triadScalar();
                    for (long i = 0; i < p.elements(); i++) {
                        float want = p.b(i) + s * p.c(i);
                        if (p.a(i) != want) {
                            assertEquals(want, p.a(i), 0.0f, "a[" + i + "], single=" + single);
                        }
                    }
                    assertEquals(s, p.a(0), 0.0f, "a[0] = b[0] + s c[0] = 0 + s");
                }
            }
        }
    }

    @Test
    void triadKernelHandlesTails() {
        try (Arena arena = Arena.ofConfined()) {
            int n = ProbeKernels.LANES * 9 + 3;
            MemorySegment a = arena.allocate((long) n * Float.BYTES, 64);
            MemorySegment b = arena.allocate((long) n * Float.BYTES, 64);
            MemorySegment c = arena.allocate((long) n * Float.BYTES, 64);
            for (int i = 0; i < n; i++) {
                b.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, i);
                c.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 0.5f * i);
                a.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, -1f);
            }
            ProbeKernels.triad(a, b, c, 2.0f, 1, n);
            assertEquals(-1f, a.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 0), 0.0f, "a[0] is outside the range");
            for (int i = 1; i < n; i++) {
                assertEquals(2.0f * i, a.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i), 0.0f, "a[" + i + "]");
            }
        }
    }

    @Test
    void fmaChainsMatchScalarFma() {
        for (int iterations : new int[] {0, 1, 7, 1000}) {
            assertEquals(ProbeKernels.fmaChainsReference(iterations, 1.0f), ProbeKernels.fmaChains(iterations, 1.0f),
                    0.0, iterations + " iterations");
        }
        assertEquals(2.0 * 1000 * ProbeKernels.FMA_CHAINS * ProbeKernels.LANES, ProbeKernels.fmaChainsFlops(1000));
    }

    @Test
    void fmaProbeRunsOneSetOfChainsPerThread() {
        try (RooflineProbes p = new RooflineProbes(tiny(), pool3)) {
            int it = tiny().fmaIterations();
            assertEquals(ProbeKernels.fmaChainsReference(it, 1.0f), p.fma(true), 0.0);
            double expected = 0;
            for (int k = 0; k < 3; k++) {
                expected += ProbeKernels.fmaChainsReference(it, 1.0f + k);
            }
            assertEquals(expected, p.fma(false), 0.0);
        }
    }

    @Test
    void runAllMeasuresEveryRooflineOnOneAndAllThreads() {
        try (RooflineProbes p = new RooflineProbes(tiny(), pool2)) {
            ProbeSet set = p.runAll();
            assertEquals(6, set.results().size());
            for (Roofline r : Roofline.values()) {
                for (boolean single : new boolean[] {true, false}) {
                    ProbeResult res = set.get(r, single);
                    assertEquals(single ? 1 : 2, res.threads());
                    assertTrue(res.value() > 0 && Double.isFinite(res.value()), res.toString());
                    assertTrue(res.medianSeconds() >= res.bestSeconds(), res.toString());
                }
            }
            assertEquals(p.elements() * Float.BYTES * 3.0, set.get(Roofline.TRIAD_BW, true).workPerRep(), 0.0);
            ProbeSet twice = ProbeSet.best(set, p.runAll());
            assertEquals(6, twice.results().size());
        }
    }
}
