package dev.gale.bench.llama;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.BenchDevices;
import dev.gale.bench.Roofline;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.RooflineProbes;
import dev.gale.bench.probe.WarmUp;
import dev.gale.bench.report.Table;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.core.device.Device;
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
import dev.gale.models.synth.SyntheticLlama;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import org.apache.arrow.memory.RootAllocator;

/**
 * End-to-end decoder speed at a real model shape: synthetic Llama-3.2-1B weights (written with {@code gale synth}'s
 * generator to a temporary GGUF and mapped back), Q4_0 and Q8_0, on the CPU and on every device with a kernel runner
 * ({@link BenchDevices#withRunner()}: OpenCL, CUDA). {@code --filter} picks devices too: a device gets rows when the
 * filter matches {@code "TITLE DEVICE"} (its {@link BenchDevices#label}), so {@code --filter cuda} times only the CUDA
 * rows and {@code --filter llama} every device's. Per row: decode
 * tok/s over the steps after warm-up, the bytes a step reads (weights plus the KV cache), the achieved GB/s against
 * the read-only probe measured just before in this process, the share of the step spent outside the ops (the step's
 * wall time against the sum of its tasks' times in the run report), and prefill tok/s for a 512-token prompt.
 */
public final class LlamaDecodeTables implements BenchCaseProvider {
    static final String TITLE = "llama decode (synthetic Llama-3.2-1B)";
    /**
     * Which weight types and device ids get rows (regular expressions, default all): {@code -Dgale.bench.llama.weights=Q8_0
     * -Dgale.bench.llama.devices=cpu} times one kernel's change without the other rows' minutes.
     */
    private static final Pattern WEIGHTS = Pattern.compile(System.getProperty("gale.bench.llama.weights", ".*"));
    private static final Pattern DEVICES = Pattern.compile(System.getProperty("gale.bench.llama.devices", ".*"));
    /** Warm-up bounds per row (prompts, then steps): at least this long, and stop waiting for steadiness after. */
    private static final long WARM_MIN_NANOS = 3_000_000_000L;
    private static final long WARM_MAX_NANOS = 40_000_000_000L;
    /** Decode steps a warm-up runs before it restarts from its short prompt (bounds the KV capacity). */
    private static final int WARM_STEPS_MAX = 256;

    @Override
    public List<BenchCase> cases(boolean quick) {
        return List.of();
    }

    @Override
    public List<Table> tables(boolean quick, Predicate<String> wanted) {
        List<Device> devices = new ArrayList<>();
        devices.add(Devices.cpu());
        devices.addAll(BenchDevices.withRunner());
        devices.removeIf(d -> !DEVICES.matcher(d.id()).matches() || !wanted.test(TITLE + " " + BenchDevices.label(d)));
        if (devices.isEmpty()) {
            return List.of();
        }
        int layers = quick ? 2 : 0;
        List<List<String>> rows = new ArrayList<>();
        List<List<String>> memory = new ArrayList<>();
        List<List<String>> breakdown = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        ProbeResult read = new RooflineProbes(RooflineProbes.Config.quick(), WorkerPool.shared())
                .measure(Roofline.READ_BW, false);
        notes.add(String.format(Locale.ROOT, "read-only probe (all threads, measured before the rows): %.1f GB/s",
                read.value()));
        for (WeightType type : new WeightType[] {WeightType.Q4_0, WeightType.Q8_0}) {
            if (!WEIGHTS.matcher(type.name()).matches()) {
                continue;
            }
            Path dir;
            try {
                dir = Files.createTempDirectory("gale-llama-bench");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Path file = dir.resolve("llama-3.2-1b-" + type + ".gguf");
            LlamaConfig c = SyntheticLlama.config(SyntheticLlama.Arch.of("llama-3.2-1b"), layers);
            try {
                SyntheticLlama.write(c, type, file, 7);
                try (LlamaModel m = LlamaGguf.load(file); BoundWeights w = new BoundWeights(m.config(), m.weights())) {
                    for (Device d : devices) {
                        rows.add(row(m, w, type, d, quick, read.value(), c.layers(),
                                d == Devices.cpu() ? breakdown : null));
                    }
                    if (memory.isEmpty()) {
                        memory.addAll(memoryRows(w, c));
                    }
                }
            } finally {
                try {
                    Files.deleteIfExists(file);
                    Files.deleteIfExists(dir);
                } catch (IOException ignored) {
                    // a temp file left behind is not worth failing the report for
                }
            }
        }
        notes.add("step gap: (step wall time - sum of its tasks' times) / step wall time, median over the timed "
                + "steps; the goal is at most 15%");
        notes.add("prefill: one batched pass of a " + (quick ? 64 : 512) + "-token prompt (GEMMs and "
                + "FlashAttention-2 over the prompt) where the device has the ops, else token by token; timed after "
                + "64-token prompts and then decode steps were repeated until their times stopped improving and the "
                + "JIT was quiet (the case runner's warm-up)");
        List<Table> tables = new ArrayList<>(List.of(new Table(TITLE + (quick ? ", 2 of 16 layers" : ""),
                List.of("weights", "device", "decode tok/s", "MB read / token", "GB/s", "x read probe", "step gap", "prefill tok/s"), rows, notes),
                new Table("llama decode step by op kind (synthetic Llama-3.2-1B, cpu)" + (quick ? ", 2 of 16 layers"
                        : ""), List.of("weights", "op", "ms / token", "share of step", "MB read", "GB/s",
                        "x read probe"), breakdown, List.of("ms / token: the op kind's task times summed over a step "
                        + "(all layers), median over the timed steps; MB read: its weight matrices (attention: the "
                        + "F32 KV cache at the mean position); x read probe: against the probe above, all threads")),
                new Table("KV memory per session, synthetic Llama-3.2-1B" + (quick ? " (2 of 16 layers)" : "")
                        + ", 4096 positions", List.of("kv", "allocated MB", "bytes / token / layer"), memory,
                        List.of("allocated: what a session's Arrow allocator holds, each buffer rounded up to a power of two by Arrow (KIVI: codes, scales, zero "
                                + "points and F16 residual windows of 128 tokens)"))));
        // The breakdown is the CPU row's: a filter that left the CPU out (--filter cuda) leaves it empty.
        tables.removeIf(t -> t.rows().isEmpty() && t.title().contains("by op kind"));
        return tables;
    }

    /** Every KV precision's session memory at 4096 positions, as allocated. */
    private static List<List<String>> memoryRows(BoundWeights w, LlamaConfig c) {
        List<List<String>> out = new ArrayList<>();
        int positions = 4096;
        for (KvPrecision kv : KvPrecision.values()) {
            try (RootAllocator alloc = new RootAllocator();
                 LlamaSession s = new LlamaSession(w, alloc, "memory", new LlamaSession.Options(Devices.cpu(), kv,
                         positions, 0f, 1f, 1, false, KvPolicy.FULL))) {
                long bytes = s.kvBytes();
                out.add(List.of(kv.name().toLowerCase(Locale.ROOT), fmt(bytes / 1e6),
                        fmt(bytes / (double) positions / c.layers())));
            } catch (RuntimeException e) {
                out.add(List.of(kv.name().toLowerCase(Locale.ROOT), "failed: " + e.getMessage(), ""));
            }
        }
        return out;
    }

    private static List<String> row(LlamaModel m, BoundWeights w, WeightType type, Device d, boolean quick,
            double probe, int layers, List<List<String>> breakdown) {
        int prompt = quick ? 64 : 512;
        int steps = quick ? 8 : 32;
        int warm = quick ? 4 : 8;
        int warmPrompt = Math.min(prompt, 64);
        try (RootAllocator alloc = new RootAllocator();
             LlamaSession s = new LlamaSession(w, alloc, "bench", new LlamaSession.Options(d, KvPrecision.F32,
                     prompt + Math.max(warm + steps, WARM_STEPS_MAX) + 1, 0f, 1f, 1, false, KvPolicy.FULL))) {
            SplittableRandom r = new SplittableRandom(3);
            int[] ids = new int[prompt];
            for (int i = 0; i < prompt; i++) {
                ids[i] = 3 + r.nextInt(m.config().vocab() - 3);
            }
            // Short prompts, then decode steps, each repeated until its time stops improving and the JIT is quiet
            // (WarmUp), so that the timed prompt and steps run C2's code: a step runs each small op (norms, RoPE,
            // attention) once per layer, so a fixed handful of steps left them in C1's profiling code and the first
            // weight type in the JVM paid for the second's warm-up. Then a reset to position 0 and the timed prompt.
            int[] warmIds = Arrays.copyOf(ids, warmPrompt);
            WarmUp.run(() -> {
                s.reset();
                s.prefill(warmIds);
            }, quick ? 0 : WARM_MIN_NANOS, 2, quick ? 0 : WARM_MAX_NANOS);
            int[] token = {warmIds[warmPrompt - 1]};
            long warmSteps = WarmUp.run(() -> {
                if (s.position() >= warmPrompt + WARM_STEPS_MAX) {
                    s.reset();
                    s.prefill(warmIds);
                }
                token[0] = s.step(token[0]);
            }, quick ? 0 : WARM_MIN_NANOS, warm, quick ? 0 : WARM_MAX_NANOS);
            System.err.printf(Locale.ROOT, "  llama %s on %s: warmed up with prompts and %d decode steps%n", type,
                    d.id(), warmSteps);
            s.reset();
            long t0 = System.nanoTime();
            int next = s.prefill(ids);
            long prefillNanos = System.nanoTime() - t0;
            for (int i = 0; i < warm; i++) {
                next = s.step(next);
            }
            double[] gaps = new double[steps];
            java.util.Map<String, long[]> kinds = new java.util.TreeMap<>();
            long start = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                long a = System.nanoTime();
                next = s.step(next);
                long wall = System.nanoTime() - a;
                RunReport rep = s.lastReport();
                long ops = rep.tasks().stream().mapToLong(RunReport.TaskReport::nanos).sum();
                gaps[i] = Math.max(0, (wall - ops) / (double) wall);
                if (breakdown != null) {
                    java.util.Map<String, Long> step = new java.util.HashMap<>();
                    for (RunReport.TaskReport t : rep.tasks()) {
                        step.merge(LlamaSession.taskKind(t.task()), t.nanos(), Long::sum);
                    }
                    int at = i;
                    step.forEach((k, ns) -> kinds.computeIfAbsent(k, x -> new long[steps])[at] = ns);
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            Arrays.sort(gaps);
            LlamaConfig c = m.config();
            double kvBytes = 2.0 * layers * c.kvDim() * 4.0 * (prompt + warm + steps / 2.0);
            double bytes = w.bytesPerToken() + kvBytes;
            double tps = steps / seconds;
            double gbs = bytes * tps / 1e9;
            if (breakdown != null) {
                double stepMs = seconds * 1e3 / steps;
                double positions = prompt + warm + steps / 2.0;
                kinds.entrySet().stream()
                        .map(e -> java.util.Map.entry(e.getKey(), median(e.getValue()) / 1e6))
                        .sorted((a, b) -> Double.compare(b.getValue(), a.getValue()))
                        .forEach(e -> {
                            double mb = kindBytes(m, e.getKey(), positions) / 1e6;
                            double opGbs = mb / e.getValue();
                            breakdown.add(List.of(type.name(), e.getKey(), String.format(Locale.ROOT, "%.3f",
                                    e.getValue()), String.format(Locale.ROOT, "%.0f%%", 100 * e.getValue() / stepMs),
                                    mb > 0 ? fmt(mb) : "", mb > 0 ? fmt(opGbs) : "",
                                    mb > 0 ? String.format(Locale.ROOT, "%.2f", opGbs / probe) : ""));
                        });
            }
            String prefill = fmt(prompt * 1e9 / prefillNanos) + (s.prefillMode().startsWith("batched") ? ""
                    : " (" + s.prefillMode() + ")");
            return List.of(type.name(), d.id(), fmt(tps), fmt(bytes / 1e6), fmt(gbs),
                    String.format(Locale.ROOT, "%.2f", gbs / probe), String.format(Locale.ROOT, "%.0f%%",
                            100 * gaps[steps / 2]), prefill);
        } catch (RuntimeException e) {
            return List.of(type.name(), d.id(), "failed: " + e.getMessage(), "", "", "", "", "");
        }
    }

    private static double median(long[] v) {
        long[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    /** Bytes an op kind reads per step: its weight matrices over all layers, or the F32 cache for attention. */
    private static double kindBytes(LlamaModel m, String kind, double positions) {
        double n = 0;
        for (var lay : m.weights().layers()) {
            n += switch (kind) {
                case "wq" -> lay.wq().byteSize();
                case "wk" -> lay.wk().byteSize();
                case "wv" -> lay.wv().byteSize();
                case "wo" -> lay.wo().byteSize();
                case "w1" -> lay.w1().byteSize();
                case "w2" -> lay.w2().byteSize();
                case "w3" -> lay.w3().byteSize();
                case "attention" -> 2.0 * m.config().kvDim() * 4.0 * positions;
                default -> 0;
            };
        }
        return kind.equals("classifier") ? m.weights().classifier().byteSize() : n;
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.2f", v);
    }
}
