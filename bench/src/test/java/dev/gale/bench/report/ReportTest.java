package dev.gale.bench.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.EmulatorDevice;
import dev.gale.bench.Roofline;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.ProbeSet;
import dev.gale.bench.probe.RooflineProbes;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The runner's timing, ratio rule, tables, JSON and files, with tiny in-test cases. */
class ReportTest {
    /** Sums a small float array: a real (tiny) op with honest bytes and flops. */
    static class SumCase implements BenchCase {
        final String impl;
        final List<String> calls = new ArrayList<>();
        float[] data;
        float sink;

        SumCase(String impl) {
            this.impl = impl;
        }

        @Override
        public String op() {
            return "sum f32";
        }

        @Override
        public String shape() {
            return "4096";
        }

        @Override
        public String impl() {
            return impl;
        }

        @Override
        public double bytes() {
            return 4096.0 * Float.BYTES;
        }

        @Override
        public double flops() {
            return 4096;
        }

        @Override
        public Roofline roofline() {
            return Roofline.READ_BW;
        }

        @Override
        public void setup() {
            calls.add("setup");
            data = new float[4096];
            for (int i = 0; i < data.length; i++) {
                data[i] = i & 7;
            }
        }

        @Override
        public void run() {
            float s = 0;
            for (float v : data) {
                s += v;
            }
            sink += s;
        }

        @Override
        public void close() {
            calls.add("close");
            data = null;
        }
    }

    /** Fails in the phase it is told to. */
    static final class FailingCase extends SumCase {
        final String phase;

        FailingCase(String phase) {
            super("broken x1");
            this.phase = phase;
        }

        @Override
        public void setup() {
            super.setup();
            if (phase.equals("setup")) {
                throw new IllegalStateException("setup | boom");
            }
        }

        @Override
        public void run() {
            if (phase.equals("run")) {
                throw new ArithmeticException("run boom");
            }
            super.run();
        }

        @Override
        public void close() {
            super.close();
            if (phase.equals("close")) {
                throw new IllegalArgumentException("close boom");
            }
        }
    }

    private static final CaseTimer.Timing FAST = new CaseTimer.Timing(1_000_000L, 2, 3, 100_000L);

    private static ProbeSet probes(double read1, double read2, double triad1, double triad2, double fma1,
            double fma2) {
        return new ProbeSet(List.of(
                new ProbeResult(Roofline.READ_BW, 1, read1, 0.1, 0.1, 3, read1 * 1e8),
                new ProbeResult(Roofline.READ_BW, 2, read2, 0.1, 0.1, 3, read2 * 1e8),
                new ProbeResult(Roofline.TRIAD_BW, 1, triad1, 0.1, 0.1, 3, triad1 * 1e8),
                new ProbeResult(Roofline.TRIAD_BW, 2, triad2, 0.1, 0.1, 3, triad2 * 1e8),
                new ProbeResult(Roofline.FMA_PEAK, 1, fma1, 0.1, 0.1, 3, fma1 * 1e8),
                new ProbeResult(Roofline.FMA_PEAK, 2, fma2, 0.1, 0.1, 3, fma2 * 1e8)), 2, 1L << 20);
    }

    private static Machine machine() {
        return new Machine("Test CPU", 2, 2, "JDK test", "Species[float, 16, S_512_BIT]", "avx512f",
                new long[] {32 << 10, 1 << 20, 32 << 20});
    }

    @Test
    void singleThreadRuleMatchesTheWordX1Only() {
        assertTrue(RooflineRule.singleThread("vector-api x1"));
        assertTrue(RooflineRule.singleThread("x1"));
        assertTrue(RooflineRule.singleThread("scalar x1 (ref)"));
        assertFalse(RooflineRule.singleThread("vector-api x2"));
        assertFalse(RooflineRule.singleThread("vector-api x16"));
        assertFalse(RooflineRule.singleThread("avx1"));
        assertFalse(RooflineRule.singleThread("vector-api"));
        assertFalse(RooflineRule.singleThread(null));
    }

    @Test
    void timerRunsSetupWarmupSamplesAndClose() {
        SumCase c = new SumCase("scalar x1");
        CaseResult r = CaseTimer.measure(c, FAST);
        assertTrue(r.ok(), r.error());
        assertEquals(List.of("setup", "close"), c.calls);
        assertEquals(3, r.samples().length);
        assertTrue(r.timedRuns() >= 3);
        assertTrue(r.bestSeconds() > 0 && r.bestSeconds() <= r.medianSeconds());
        assertEquals(4096.0 * 4 / r.bestSeconds() / 1e9, r.gbps(), 1e-9);
    }

    @Test
    void failuresInAnyPhaseBecomeFailedResultsAndStillClose() {
        for (String phase : new String[] {"setup", "run", "close"}) {
            FailingCase c = new FailingCase(phase);
            CaseResult r = CaseTimer.measure(c, FAST);
            assertFalse(r.ok(), phase);
            assertTrue(r.error().contains(phase + " boom") || r.error().contains("setup | boom"), r.error());
            assertEquals("close", c.calls.getLast(), phase);
            assertEquals(0, r.samples().length);
            assertTrue(Double.isNaN(r.gbps()));
        }
    }

    @Test
    void tableAndJsonCarryTheRatioToTheMatchingProbe() {
        ProbeSet start = probes(10, 20, 8, 16, 100, 200);
        ProbeSet end = probes(12, 18, 8, 16, 100, 200);
        // 1e9 bytes in a best time of 0.25 s: 4 GB/s.
        CaseResult single = new CaseResult("gemv f32", "1x1", "vector-api x1", Roofline.READ_BW, 1e9, 2e9,
                new double[] {0.5, 0.25, 1.0}, 1, null);
        CaseResult all = new CaseResult("gemv f32", "1x1", "vector-api x2", Roofline.READ_BW, 1e9, 2e9,
                new double[] {0.5, 0.25, 1.0}, 1, null);
        CaseResult fma = new CaseResult("gemm f32", "2x2", "vector-api x2", Roofline.FMA_PEAK, 1e9, 50e9,
                new double[] {1.0, 1.0}, 4, null);
        CaseResult failed = CaseResult.failed("rmsnorm", "8", "x1", Roofline.TRIAD_BW, "IllegalStateException: a|b");
        Report report = new Report("2026-01-01T00:00:00Z", machine(), true, "gemv|gemm",
                FAST, RooflineProbes.Config.quick(), start, end, List.of(single, all, fma, failed));

        ProbeSet used = report.used();
        assertEquals(12, used.get(Roofline.READ_BW, true).value(), 0.0, "the better of start and end");
        assertEquals(20, used.get(Roofline.READ_BW, false).value(), 0.0);
        assertEquals(4.0 / 12, RooflineRule.ratio(single, used), 1e-12);
        assertEquals(4.0 / 20, RooflineRule.ratio(all, used), 1e-12);
        assertEquals(50.0 / 200, RooflineRule.ratio(fma, used), 1e-12);
        assertTrue(Double.isNaN(RooflineRule.ratio(failed, used)));
        assertEquals(1, report.failures());

        String table = report.caseTable();
        assertTrue(table.contains("| op | shape | impl | time (best) | time (median) | GB/s | GFLOP/s | roofline | ratio |"),
                table);
        assertTrue(table.contains("| gemv f32 | 1x1 | vector-api x1 | 250 ms | 500 ms | 4.0 | 8.0 | read x1 12.0 GB/s | 0.33 |"),
                table);
        assertTrue(table.contains("| gemv f32 | 1x1 | vector-api x2 | 250 ms | 500 ms | 4.0 | 8.0 | read x2 20.0 GB/s | 0.20 |"),
                table);
        assertTrue(table.contains("| gemm f32 | 2x2 | vector-api x2 | 1.00 s | 1.00 s | 1.0 | 50.0 | fma x2 200.0 GFLOP/s | 0.25 |"),
                table);
        assertTrue(table.contains("| rmsnorm | 8 | x1 | FAILED: IllegalStateException: a\\|b | | | | triad x1 8.0 GB/s | |"),
                table);
        String probeTable = report.probeTable();
        assertTrue(probeTable.contains("| read (READ_BW) | 1 | 10.0 | 12.0 | 12.0 | GB/s |"), probeTable);
        assertTrue(probeTable.contains("| fma (FMA_PEAK) | 2 | 200.0 | 200.0 | 200.0 | GFLOP/s |"), probeTable);

        String json = report.json();
        assertTrue(json.contains("\"filter\": \"gemv|gemm\""), json);
        assertTrue(json.contains("\"status\": \"FAILED\""), json);
        assertTrue(json.contains("\"error\": \"IllegalStateException: a|b\""), json);
        assertTrue(json.contains("\"ratio\": 0.25"), json);
        assertTrue(json.contains("\"samples_s\": [0.5, 0.25, 1]"), json);
        assertTrue(json.contains("\"time_best_s\": null"), "a failed case has no time: " + json);
        assertTrue(json.contains("\"roofline_threads\": 1"), json);
        assertBalanced(json);
    }

    @Test
    void jsonEscapesStrings() {
        String s = Json.write(java.util.Map.of("k", "a\"b\\c\nd\u0001"));
        assertEquals("{\n  \"k\": \"a\\\"b\\\\c\\nd\\u0001\"\n}\n", s);
        assertEquals("[1.5, null, 3]\n", Json.write(new double[] {1.5, Double.NaN, 3}));
        assertEquals("[]\n", Json.write(List.of()));
    }

    @Test
    void wholeRunWritesFilesAndFailsOnAFailedCase() throws IOException {
        Path dir = Path.of("target", "report-test");
        deleteTree(dir);
        BenchCaseProvider good = quick -> List.of(new SumCase("scalar x1"), new SumCase("scalar x2"));
        BenchCaseProvider bad = quick -> List.of(new FailingCase("run"));
        BenchCaseProvider throwing = quick -> {
            throw new UnsupportedOperationException("no cases today");
        };
        Iterator<BenchCaseProvider> providers = List.of(good, bad, throwing).iterator();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        int code = BenchReport.run(new BenchReport.Options(true, "sum", dir, null, 1L), providers, out);
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(1, code, text);
        assertTrue(text.contains("FAILED: ArithmeticException: run boom"), text);
        assertTrue(text.contains("no cases today"), text);
        assertTrue(text.contains("| sum f32 | 4096 | scalar x1 |"), text);
        assertTrue(text.contains("2 case(s) FAILED"), text);
        for (String f : new String[] {"latest.json", "latest.md", "latest-probes.png", "latest-ratios.png"}) {
            assertTrue(Files.size(dir.resolve(f)) > 0, f);
        }
        byte[] png = Files.readAllBytes(dir.resolve("latest-ratios.png"));
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, java.util.Arrays.copyOf(png, 4));
        String json = Files.readString(dir.resolve("latest.json"));
        assertBalanced(json);
        assertTrue(json.contains("\"op\": \"provider\""), json);
        try (var files = Files.list(dir)) {
            assertEquals(1, files.filter(p -> p.getFileName().toString().matches("bench-\\d{8}-\\d{6}\\.json"))
                    .count());
        }
    }

    @Test
    void optionsParse() {
        BenchReport.Options o = BenchReport.Options.parse(new String[] {"--quick", "--filter", "gemv", "--out", "x",
                "--threads", "3", "--probe-mib", "64"});
        assertTrue(o.quick());
        assertEquals("gemv", o.filter());
        assertEquals(Path.of("x"), o.out());
        assertEquals(3, o.threads());
        assertEquals(64L, o.probeMib());
        BenchReport.Options d = BenchReport.Options.parse(new String[0]);
        assertFalse(d.quick());
        assertNull(d.filter());
        assertEquals("bench-results", d.out().getFileName().toString());
        for (String[] bad : new String[][] {{"--threads", "0"}, {"--filter"}, {"--filter", "("}, {"--bogus"}}) {
            try {
                BenchReport.Options.parse(bad);
                throw new AssertionError("accepted " + String.join(" ", bad));
            } catch (IllegalArgumentException expected) {
                assertFalse(expected.getMessage().isBlank());
            }
        }
    }

    /** Brackets and braces outside strings balance, and strings close. */
    private static void assertBalanced(String json) {
        int depth = 0;
        boolean inString = false;
        for (int i = 0; i < json.length(); i++) {
            char ch = json.charAt(i);
            if (inString) {
                if (ch == '\\') {
                    i++;
                } else if (ch == '"') {
                    inString = false;
                }
            } else if (ch == '"') {
                inString = true;
            } else if (ch == '{' || ch == '[') {
                depth++;
            } else if (ch == '}' || ch == ']') {
                depth--;
                assertTrue(depth >= 0, "closes too early at " + i);
            }
        }
        assertFalse(inString, "unterminated string");
        assertEquals(0, depth, "unbalanced JSON");
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(dir);
    }

    @Test
    void deviceProbesRunForSelectedCasesOnDevicesWithTheirOwnRooflineAndForOthersWhenAsked() {
        Device gpu = new EmulatorDevice("gpu:0", DeviceType.GPU, false);
        Device pocl = new EmulatorDevice("cpu-like:0", DeviceType.CPU, true);
        List<BenchCase> selected = List.of(new SumCase("vector-api x2"), onDevice(gpu), onDevice(gpu), onDevice(pocl));
        assertEquals(List.of("gpu:0"), List.copyOf(BenchReport.devicesToProbe(selected, false).keySet()));
        assertEquals(List.of("gpu:0", "cpu-like:0"), List.copyOf(BenchReport.devicesToProbe(selected, true).keySet()));

        BenchReport.Options o = BenchReport.Options.parse(new String[] {"--quick"});
        RooflineProbes.Config host = RooflineProbes.Config.quick();
        assertEquals(256L << 20, BenchReport.deviceProbeConfig(gpu, o, host).bytesPerStream());
        assertEquals(host.bytesPerStream(), BenchReport.deviceProbeConfig(pocl, o, host).bytesPerStream());
        BenchReport.Options sized = BenchReport.Options.parse(new String[] {"--device-probes", "--device-probe-mib", "8"});
        assertTrue(sized.deviceProbes());
        assertEquals(8L << 20, BenchReport.deviceProbeConfig(pocl, sized, host).bytesPerStream());
        assertEquals(8L << 20, BenchReport.deviceProbeConfig(gpu, sized, host).bytesPerStream());
    }

    @Test
    void aCaseOnADeviceWithItsOwnRooflineNamesItsProbeDevice() {
        Device gpu = new EmulatorDevice("gpu:0", DeviceType.GPU, false);
        Device pocl = new EmulatorDevice("cpu-like:0", DeviceType.CPU, true);
        assertEquals("gpu:0", CaseTimer.measure(onDevice(gpu), FAST).probeDevice());
        assertNull(CaseTimer.measure(onDevice(pocl), FAST).probeDevice());
        assertNull(CaseTimer.measure(new SumCase("vector-api x2"), FAST).probeDevice());
    }

    /** A sum case that says it runs on {@code d} (it still sums on the host: the runner only reads device()). */
    private static BenchCase onDevice(Device d) {
        return new SumCase(d.id()) {
            @Override
            public Device device() {
                return d;
            }
        };
    }
}
