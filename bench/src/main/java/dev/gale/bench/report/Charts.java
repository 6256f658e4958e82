package dev.gale.bench.report;

import dev.gale.bench.Roofline;
import dev.gale.bench.probe.ProbeResult;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/** PNG bar charts of a {@link Report}, drawn with XChart (headless). */
public final class Charts {
    private Charts() {
    }

    /**
     * One bar per successful case: its ratio to its roofline, coloured by roofline. Returns false (and writes
     * nothing) when no case succeeded.
     */
    public static boolean writeRatios(Report report, Path file) throws IOException {
        List<CaseResult> ok = report.cases().stream().filter(CaseResult::ok).toList();
        if (ok.isEmpty()) {
            return false;
        }
        List<String> labels = uniqueLabels(ok);
        int width = Math.max(800, 60 * ok.size() + 200);
        CategoryChart chart = new CategoryChartBuilder().width(width).height(700)
                .title("Ratio to roofline (" + report.timestamp() + ")").xAxisTitle("case")
                .yAxisTitle("ratio to probe measured in the same run").build();
        chart.getStyler().setXAxisLabelRotation(60).setYAxisMin(0.0).setYAxisDecimalPattern("0.00");
        chart.getStyler().setOverlapped(true).setLabelsVisible(true).setLabelsRotation(0);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS).setLegendLayout(Styler.LegendLayout.Horizontal);
        var used = report.used();
        for (Roofline r : Roofline.values()) {
            if (ok.stream().noneMatch(c -> c.roofline() == r)) {
                continue;
            }
            List<Double> values = new ArrayList<>();
            for (CaseResult c : ok) {
                double ratio = RooflineRule.ratio(c, used, report.usedDevices());
                values.add(c.roofline() == r && Double.isFinite(ratio) ? ratio : 0.0);
            }
            chart.addSeries(r.name(), labels, values);
        }
        save(chart, file);
        return true;
    }

    /** The probes: one bar per probe and thread count, for the start and the end pass. */
    public static void writeProbes(Report report, Path file) throws IOException {
        List<String> labels = new ArrayList<>();
        List<Double> start = new ArrayList<>();
        List<Double> end = new ArrayList<>();
        for (ProbeResult s : report.start().results()) {
            labels.add(s.probe() + " x" + s.threads() + " (" + s.unit() + ")");
            start.add(s.value());
            end.add(report.end().get(s.roofline(), s.threads() == 1).value());
        }
        CategoryChart chart = new CategoryChartBuilder().width(900).height(600)
                .title("Roofline probes (" + report.timestamp() + ")").xAxisTitle("probe")
                .yAxisTitle("GB/s or GFLOP/s").build();
        chart.getStyler().setLabelsVisible(true).setLabelsRotation(0);
        chart.getStyler().setYAxisMin(0.0).setYAxisDecimalPattern("0.0").setXAxisLabelRotation(20);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS).setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.addSeries("start of run", labels, start);
        chart.addSeries("end of run", labels, end);
        save(chart, file);
    }

    private static void save(CategoryChart chart, Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try (OutputStream out = Files.newOutputStream(file)) {
            BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
        }
    }

    /** Case labels, numbered where two cases would otherwise share one (categories must be distinct). */
    private static List<String> uniqueLabels(List<CaseResult> cases) {
        Set<String> seen = new HashSet<>();
        List<String> out = new ArrayList<>();
        for (CaseResult c : cases) {
            String label = c.label();
            String candidate = label;
            for (int k = 2; !seen.add(candidate); k++) {
                candidate = label + " #" + k;
            }
            out.add(candidate);
        }
        return out;
    }
}
