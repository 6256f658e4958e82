package dev.gale.bench.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.bench.Roofline;
import dev.gale.bench.probe.DeviceProbeRun;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.ProbeSet;
import dev.gale.bench.probe.RooflineProbes;
import dev.gale.bench.report.CaseResult;
import dev.gale.bench.report.CaseTimer;
import dev.gale.bench.report.Machine;
import dev.gale.bench.report.Report;
import dev.gale.bench.report.RooflineRule;
import dev.gale.bench.report.Table;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The report's "Device vs Vector API" table and extra tables: pairing by op and shape, ratio, JSON. */
class PairTableTest {
    private static ProbeSet probes() {
        return new ProbeSet(List.of(
                new ProbeResult(Roofline.READ_BW, 1, 10, 0.1, 0.1, 3, 1e9),
                new ProbeResult(Roofline.READ_BW, 2, 20, 0.1, 0.1, 3, 1e9),
                new ProbeResult(Roofline.TRIAD_BW, 1, 10, 0.1, 0.1, 3, 1e9),
                new ProbeResult(Roofline.TRIAD_BW, 2, 20, 0.1, 0.1, 3, 1e9),
                new ProbeResult(Roofline.FMA_PEAK, 1, 100, 0.1, 0.1, 3, 1e9),
                new ProbeResult(Roofline.FMA_PEAK, 2, 200, 0.1, 0.1, 3, 1e9)), 2, 1L << 20);
    }

    private static Report report(List<CaseResult> cases, List<Table> tables) {
        Machine m = new Machine("Test CPU", 2, 2, "JDK test", "Species[float, 8, S_256_BIT]", "avx2",
                new long[] {32 << 10, 1 << 20, 32 << 20});
        return new Report("2026-01-01T00:00:00Z", m, true, null, new CaseTimer.Timing(0, 0, 1, 0),
                RooflineProbes.Config.quick(), probes(), probes(), cases, tables);
    }

    @Test
    void deviceCasesPairWithVectorApiCasesOfTheSameOpAndShapeOnly() {
        CaseResult vector = new CaseResult("gemv f32", "4x4", "vector-api x2", Roofline.READ_BW, 1e6, 1e6,
                new double[] {2e-3, 3e-3}, 2, null);
        CaseResult reference = new CaseResult("gemv f32", "4x4", "scalar reference", Roofline.READ_BW, 1e6, 1e6,
                new double[] {9e-3}, 1, null);
        CaseResult otherShape = new CaseResult("gemv f32", "8x8", "vector-api x2", Roofline.READ_BW, 1e6, 1e6,
                new double[] {1e-3}, 1, null);
        CaseResult device = new CaseResult("gemv f32", "4x4", "pocl opencl:0", Roofline.READ_BW, 1e6, 1e6,
                new double[] {5e-3, 4e-3}, 2, null, "gemv f32 4x4", new double[] {1e-3, 3e-3, 2e-3});
        Report r = report(List.of(vector, reference, otherShape, device), List.of());
        List<Report.Pair> pairs = r.pairs();
        assertEquals(1, pairs.size());
        assertEquals(2.0, pairs.getFirst().timeRatio(), 1e-12, "4 ms best over 2 ms best");
        assertEquals(1e-3, device.deviceBestSeconds(), 0);
        assertEquals(2e-3, device.deviceMedianSeconds(), 0);
        String md = r.markdown();
        assertTrue(md.contains("## Device vs Vector API"), md);
        assertTrue(md.contains("| gemv f32 | 4x4 | pocl opencl:0 | 4.00 ms | 1.00 ms / 2.00 ms | vector-api x2 | "
                + "2.00 ms | 2.00 |"), md);
        assertTrue(md.contains("## Report cases"), "the case table stays");
        String json = r.json();
        assertTrue(json.contains("\"vs_vector_api\""), json);
        assertTrue(json.contains("\"time_ratio_device_over_vector\": 2"), json);
        assertTrue(json.contains("\"kernel_time_best_s\""), json);
    }

    @Test
    void withoutPairKeysOrTablesTheOutputHasNoNewSections() {
        CaseResult vector = new CaseResult("gemv f32", "4x4", "vector-api x2", Roofline.READ_BW, 1e6, 1e6,
                new double[] {2e-3}, 1, null);
        Report r = report(List.of(vector), List.of());
        assertEquals("", r.pairTable());
        assertFalse(r.markdown().contains("Device vs Vector API"));
        assertFalse(r.json().contains("vs_vector_api"));
        assertFalse(r.json().contains("\"tables\""));
        assertFalse(r.json().contains("pair_key"));
    }

    @Test
    void extraTablesAppearInMarkdownAndJson() {
        Table t = new Table("pocl opencl:0: program build and launch overhead", List.of("what", "best"),
                List.of(List.of("cold build", "500 ms")), List.of("cold: fresh caches"));
        Report r = report(List.of(), List.of(t));
        assertTrue(r.markdown().contains("## pocl opencl:0: program build and launch overhead\n\n| what | best |\n"
                + "|---|---|\n| cold build | 500 ms |\n\n- cold: fresh caches\n"), r.markdown());
        assertTrue(r.json().contains("\"tables\""));
    }

    /** A GPU's probes: read 4000 GB/s, triad 3000 GB/s, fma 50000 GFLOP/s over 1024 items. */
    private static ProbeSet gpuProbes(double scale) {
        return new ProbeSet(List.of(
                new ProbeResult(Roofline.READ_BW, 1024, 4000 * scale, 1e-3, 1e-3, 3, 4e9 * scale),
                new ProbeResult(Roofline.TRIAD_BW, 1024, 3000 * scale, 1e-3, 1e-3, 3, 3e9 * scale),
                new ProbeResult(Roofline.FMA_PEAK, 1024, 50000 * scale, 1e-3, 1e-3, 3, 5e10 * scale)), 1024, 1L << 30);
    }

    @Test
    void aCaseOnADeviceWithItsOwnRooflineIsDividedByThatDevicesProbesAtItsKernelTime() {
        // 1e9 bytes: 4 ms wall best (250 GB/s, copies included), 0.5 ms kernel best (2000 GB/s).
        CaseResult gpu = new CaseResult("gemv f32", "4x4", "cuda:0 Test GPU", Roofline.READ_BW, 1e9, 1e6,
                new double[] {5e-3, 4e-3}, 2, null, "gemv f32 4x4", new double[] {0.5e-3, 0.6e-3}, "cuda:0");
        CaseResult noProbes = new CaseResult("gemv f32", "4x4", "cuda:1 Test GPU", Roofline.READ_BW, 1e9, 1e6,
                new double[] {5e-3}, 1, null, "gemv f32 4x4", new double[] {0.5e-3}, "cuda:1");
        CaseResult pocl = new CaseResult("gemv f32", "4x4", "pocl opencl:0", Roofline.READ_BW, 1e9, 1e6,
                new double[] {0.1}, 1, null, "gemv f32 4x4", new double[] {0.05}, null);
        Machine m = new Machine("Test CPU", 2, 2, "JDK test", "Species[float, 8, S_256_BIT]", "avx2",
                new long[] {32 << 10, 1 << 20, 32 << 20});
        DeviceProbeRun cuda = new DeviceProbeRun("cuda:0", "cuda:0 Test GPU", true, gpuProbes(1), gpuProbes(0.5));
        DeviceProbeRun poclRun = new DeviceProbeRun("opencl:0", "pocl opencl:0", false, gpuProbes(0.01), null);
        Report r = new Report("2026-01-01T00:00:00Z", m, true, "cuda", new CaseTimer.Timing(0, 0, 1, 0),
                RooflineProbes.Config.quick(), probes(), probes(), List.of(gpu, noProbes, pocl), List.of(),
                List.of(cuda, poclRun));
        Map<String, ProbeSet> devices = r.usedDevices();
        assertEquals(4000, devices.get("cuda:0").get(Roofline.READ_BW, false).value(), 0, "the better pass");
        assertEquals(0.5, RooflineRule.ratio(gpu, r.used(), devices), 1e-12, "2000 GB/s of 4000, kernel time");
        assertTrue(Double.isNaN(RooflineRule.ratio(noProbes, r.used(), devices)), "no probes: no ratio");
        // PoCL keeps the host probe (all threads, 20 GB/s) at its wall time: 10 GB/s.
        assertEquals(0.5, RooflineRule.ratio(pocl, r.used(), devices), 1e-12);

        String cases = r.caseTable();
        assertTrue(cases.contains("| cuda:0 Test GPU | 4.00 ms | 4.50 ms | 250.0 | 0.3 | read cuda:0 4000.0 GB/s "
                + "(kernel time) | 0.50 |"), cases);
        assertTrue(cases.contains("| no cuda:1 probe | — |"), cases);
        assertTrue(cases.contains("| pocl opencl:0 | 100 ms | 100 ms | 10.0 | 0.0 | read x2 20.0 GB/s | 0.50 |"),
                cases);
        String probeTable = r.probeTable();
        assertTrue(probeTable.contains("| read (READ_BW) on cuda:0 Test GPU | 1024 items | 4000.0 | 2000.0 | 4000.0 "
                + "| GB/s |"), probeTable);
        assertTrue(probeTable.contains("| fma (FMA_PEAK) on pocl opencl:0 | 1024 items | 500.0 | — | 500.0 "
                + "| GFLOP/s |"), probeTable);
        assertTrue(probeTable.contains("cuda:0 Test GPU: DeviceProbeKernels through the device's kernel runner, "
                + "1024 MiB per stream, device time; the roofline of this device's cases"), probeTable);
        assertTrue(probeTable.contains("for comparison only"), probeTable);
        String json = r.json();
        assertTrue(json.contains("\"device_probes\""), json);
        assertTrue(json.contains("\"roofline_device\": \"cuda:0\""), json);
        assertTrue(json.contains("\"ratio\": 0.5"), json);
    }
}
