package dev.gale.bench.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.bench.Roofline;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.ProbeSet;
import dev.gale.bench.probe.RooflineProbes;
import dev.gale.bench.report.CaseResult;
import dev.gale.bench.report.CaseTimer;
import dev.gale.bench.report.Machine;
import dev.gale.bench.report.Report;
import dev.gale.bench.report.Table;
import java.util.List;
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
}
