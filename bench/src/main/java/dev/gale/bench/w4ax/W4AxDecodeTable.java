package dev.gale.bench.w4ax;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.report.Table;
import dev.gale.core.device.Devices;
import dev.gale.core.graph.RunReport;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.models.LlamaConfig;
import dev.gale.models.LlamaModel;
import dev.gale.models.WeightType;
import dev.gale.models.gguf.LlamaGguf;
import dev.gale.models.llama.BoundWeights;
import dev.gale.models.llama.KvPolicy;
import dev.gale.models.llama.LlamaSession;
import dev.gale.models.llama.W4AxConversion;
import dev.gale.models.llama.WeightQuantizer;
import dev.gale.models.synth.SyntheticLlama;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.apache.arrow.memory.RootAllocator;

/**
 * End-to-end decode at the synthetic Llama-3-8B shape: W4A4 with an INT4 (KIVI) KV cache against Q4_0 with an F16
 * cache, both converted in memory from one F32 synthetic file with a few of the 32 layers (the F32 source of all 32
 * would not fit this machine's memory twice). Per row: decode tok/s, the time per token in the layer matmuls and in
 * the classifier (from the run report's task times, so the per-layer cost extrapolates to 32 layers), weight bytes,
 * and the KV memory per session at 8192 positions. The W4A4 rows are plain W4A4 (group 128, activation scales per
 * 128 channels): with random weights there are no outliers to calibrate, and on the CPU an A8 block costs what an A4
 * block does. The W4Ax model stores its untied classifier and embedding table Q8_0 ({@code W4AxConversion}), which
 * the classifier column shows against Q4_0's. Q4_0 runs twice, before and after the W4A4 session in the same JVM:
 * the two rows differing says the JIT's shared vector profiles moved a kernel (README, "Why, found 2026-11-28").
 */
public final class W4AxDecodeTable implements BenchCaseProvider {
    static final String TITLE = "W4A4 decode (synthetic Llama-3-8B shape)";

    @Override
    public List<BenchCase> cases(boolean quick) {
        return List.of();
    }

    @Override
    public List<Table> tables(boolean quick, Predicate<String> wanted) {
        if (!wanted.test(TITLE)) {
            return List.of();
        }
        int layers = quick ? 1 : 2;
        LlamaConfig c = SyntheticLlama.config(SyntheticLlama.Arch.LLAMA_3_8B, layers);
        List<List<String>> rows = new ArrayList<>();
        Path dir;
        try {
            dir = Files.createTempDirectory("gale-w4ax-bench");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path file = dir.resolve("llama-3-8b-f32.gguf");
        try {
            SyntheticLlama.write(c, WeightType.F32, file, 7);
            try (LlamaModel f32 = LlamaGguf.load(file);
                    LlamaModel q4 = WeightQuantizer.quantize(f32, WeightType.Q4_0)) {
                // Q4_0 before and after the W4A4 session, in one JVM: the JDK's vector templates share one type
                // profile, so a kernel's speed can depend on which vector shapes ran before it (README). The W4Ax
                // model owns copies; closing the quantizer's result closes its source, so it closes last.
                rows.add(row("Q4_0 (first in the JVM)", q4, KvPrecision.F16, quick));
                try (LlamaModel w4 = W4AxConversion.convert(f32, null, new W4AxConversion.Options("w4a4", 128, false,
                        0f, 128))) {
                    rows.add(row("W4A4 g128", w4, KvPrecision.INT4, quick));
                }
                rows.add(row("Q4_0 (after W4A4)", q4, KvPrecision.F16, quick));
            }
        } finally {
            try {
                Files.deleteIfExists(file);
                Files.deleteIfExists(dir);
            } catch (IOException ignored) {
                // a temp file left behind is not worth failing the report for
            }
        }
        return List.of(new Table(TITLE + ", " + layers + " of 32 layers", List.of("weights", "kv", "decode tok/s",
                "layer matmuls ms / token / layer", "classifier ms / token", "weights MB", "KV MB at 8192 positions"),
                rows, List.of("CPU, Vector API paths; matmul and classifier times are sums of the run report's task "
                        + "times, medians over the timed steps; 32 layers would take 32 x the per-layer time",
                        "weights MB: every tensor as stored (the W4Ax classifier and embedding are Q8_0)")));
    }

    private static List<String> row(String name, LlamaModel m, KvPrecision kv, boolean quick) {
        int steps = quick ? 4 : 12;
        int warm = quick ? 2 : 4;
        try (BoundWeights w = new BoundWeights(m); RootAllocator alloc = new RootAllocator()) {
            double kvMb;
            try (LlamaSession s = new LlamaSession(w, alloc, "kv", new LlamaSession.Options(Devices.cpu(), kv, 8192,
                    0f, 1f, 1, false, KvPolicy.FULL))) {
                kvMb = s.kvBytes() / 1e6;
            }
            try (LlamaSession s = new LlamaSession(w, alloc, "bench", new LlamaSession.Options(Devices.cpu(), kv,
                    warm + steps + 1, 0f, 1f, 1, false, KvPolicy.FULL))) {
                int next = 3 + new SplittableRandom(3).nextInt(m.config().vocab() - 3);
                for (int i = 0; i < warm; i++) {
                    next = s.step(next);
                }
                double[] matmul = new double[steps];
                double[] cls = new double[steps];
                long start = System.nanoTime();
                for (int i = 0; i < steps; i++) {
                    next = s.step(next);
                    for (RunReport.TaskReport t : s.lastReport().tasks()) {
                        if (t.task().matches("l\\d+\\.w[qkvo123]")) {
                            matmul[i] += t.nanos() / 1e6;
                        } else if (t.task().equals("classifier")) {
                            cls[i] += t.nanos() / 1e6;
                        }
                    }
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                java.util.Arrays.sort(matmul);
                java.util.Arrays.sort(cls);
                long bytes = m.weights().all().stream().mapToLong(t -> t.byteSize()).sum()
                        + m.w4ax().map(x -> x.matrices().values().stream()
                                .mapToLong(mm -> 4L * mm.weights().rows() * (mm.weights().in() / mm.weights().group()))
                                .sum()).orElse(0L);
                return List.of(name, kv.name().toLowerCase(Locale.ROOT), fmt(steps / seconds),
                        fmt(matmul[steps / 2] / m.config().layers()), fmt(cls[steps / 2]), fmt(bytes / 1e6),
                        fmt(kvMb));
            }
        } catch (RuntimeException e) {
            return List.of(name, kv.name().toLowerCase(Locale.ROOT), "failed: " + e.getMessage(), "", "", "", "");
        }
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.2f", v);
    }
}
