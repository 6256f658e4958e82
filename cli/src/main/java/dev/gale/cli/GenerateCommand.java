package dev.gale.cli;

import dev.gale.core.device.Device;
import dev.gale.core.device.Devices;
import dev.gale.kvcache.KvCacheFile;
import dev.gale.kvcache.MappedKvCache;
import dev.gale.models.LlamaModel;
import dev.gale.models.llama.BoundWeights;
import dev.gale.models.llama.Generator;
import dev.gale.models.llama.KvPolicy;
import dev.gale.models.llama.LlamaSession;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.models.ModelFiles;
import dev.gale.models.ModelIdentity;
import dev.gale.models.WeightType;
import dev.gale.models.llama.WeightQuantizer;
import dev.gale.models.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.arrow.memory.RootAllocator;

/**
 * {@code gale generate}: streams a model's continuation of a prompt, then prints prefill and decode speed, memory,
 * and where each task of the decode step ran.
 */
final class GenerateCommand implements Gale.Command {
    private static final String USAGE = "usage: gale generate --model FILE.bin|FILE.gguf [--tokenizer FILE] "
            + "[--prompt TEXT] [--steps N] [--temperature T] [--top-p P] [--seed S] [--device cpu|opencl:N] "
            + "[--weights f32|q8_0|q4_0|w4a4|w4a8] " + W4AxChoice.USAGE + " [--kv f32|f16|int8|int4|int2] "
            + "[--kv-policy full|sinks:S,window:W|h2o:heavy:H,recent:R] [--kv-capacity N] [--save-kv FILE] "
            + "[--resume-kv FILE] [--fallback none|cpu]";

    @Override
    public String summary() {
        return "generate text with a Llama-family model (llama2.c or GGUF)";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        CliArgs a;
        Path model;
        Path tokFile;
        String weights;
        int steps;
        float temperature;
        float topP;
        long seed;
        KvPrecision kv;
        KvPolicy policy;
        Device device;
        W4AxChoice w4 = null;
        boolean fallback;
        try {
            Set<String> known = new java.util.HashSet<>(Set.of("model", "tokenizer", "prompt", "steps",
                    "temperature", "top-p", "seed", "device", "kv", "kv-policy", "weights", "save-kv", "resume-kv",
                    "kv-capacity", "fallback"));
            known.addAll(W4AxChoice.OPTIONS);
            a = CliArgs.parse("generate", args, known);
            model = Path.of(a.require("model"));
            tokFile = a.has("tokenizer") ? Path.of(a.get("tokenizer", null)) : null;
            weights = a.choice("weights", "as-stored", List.of("as-stored", "f32", "q8_0", "q4_0", "w4a4", "w4a8"));
            if (W4AxChoice.isW4Ax(weights)) {
                w4 = W4AxChoice.parse(a, weights, "generate");
            }
            steps = a.integer("steps", 256, 1);
            temperature = a.decimal("temperature", 0f);
            topP = a.decimal("top-p", 0.9f);
            seed = a.integer("seed", 133742, 1);
            kv = KvPrecision.valueOf(a.choice("kv", "f32", List.of("f32", "f16", "int8", "int4", "int2"))
                    .toUpperCase(Locale.ROOT));
            policy = KvPolicy.parse(a.get("kv-policy", "full"));
            device = Devices.byId(a.get("device", "cpu"));
            // Ops with no kernel on the device (the session-owned KIVI, sink and H2O caches on OpenCL) are an
            // error unless the user asks for them to run on the CPU; the plan printed at the end names each one.
            fallback = a.choice("fallback", "none", List.of("none", "cpu")).equals("cpu");
        } catch (RuntimeException e) {
            out.println("gale generate: " + e.getMessage().replaceFirst("^gale generate: ", ""));
            out.println(USAGE);
            return 2;
        }
        W4AxChoice w4x = w4;
        try (LlamaModel loaded = ModelFiles.load(model);
             LlamaModel m = w4x != null ? w4x.convert(loaded, model, tokFile, out) : convert(loaded, weights, out);
             BoundWeights w = new BoundWeights(m); RootAllocator alloc = new RootAllocator()) {
            Tokenizer tok = ModelFiles.tokenizer(loaded, model, tokFile);
            // A full cache holds every position; a sink/window cache holds sinks + window and runs past seqLen.
            // --kv-capacity leaves room for a saved session to continue past --steps.
            int capacity = policy.budget() > 0 ? policy.budget()
                    : Math.min(a.integer("kv-capacity", steps, 1), m.config().seqLen());
            Path resume = a.has("resume-kv") ? Path.of(a.get("resume-kv", null)) : null;
            String modelId = resume != null || a.has("save-kv") ? ModelIdentity.of(m) : null;
            int pending = -1;
            int cached = 0;
            // Opened (mapped and checksummed) once: the session takes it over.
            MappedKvCache saved = resume == null ? null
                    : KvCacheFile.open(resume, modelId, kv.name().toLowerCase(Locale.ROOT));
            if (saved != null) {
                // The saved cache fixes the capacity; --steps then counts the tokens to generate after it.
                try {
                    Map<String, String> attrs = saved.header().attributes();
                    capacity = policy.budget() > 0 ? policy.budget() : Integer.parseInt(attrs.get("capacity"));
                    pending = Integer.parseInt(attrs.getOrDefault("next", "-1"));
                    cached = Math.toIntExact(saved.header().tokens());
                } catch (RuntimeException e) {
                    saved.close();
                    throw new IllegalArgumentException(resume + ": not a cache saved by gale generate (" + e + ")",
                            e);
                }
            }
            LlamaSession.Options o = new LlamaSession.Options(device, kv, capacity, temperature,
                    temperature == 0 ? 1f : topP, seed, fallback, policy);
            try (LlamaSession s = saved == null ? new LlamaSession(w, alloc, "cli", o)
                    : LlamaSession.resume(w, alloc, "cli", o, saved)) {
                int end = policy.budget() > 0 ? cached + steps : Math.min(capacity, cached + steps);
                if (resume != null) {
                    out.println("(resumed " + cached + " cached tokens from " + resume + ")");
                }
                Generator.Stats st = Generator.generate(s, tok, a.get("prompt", ""), end, pending, text -> {
                    out.print(text);
                    out.flush();
                });
                if (a.has("save-kv")) {
                    Path file = Path.of(a.get("save-kv", null));
                    s.save(file, modelId, Map.of("next", Integer.toString(st.next())));
                    out.println();
                    out.print("(saved " + s.position() + " cached tokens to " + file + ")");
                }
                out.println();
                out.println("---");
                out.printf(Locale.ROOT, "device %s, kv %s (%s), %s%n", device.id(), kv.name().toLowerCase(Locale.ROOT),
                        policy,
                        temperature == 0 ? "greedy" : "temperature " + temperature + ", top-p " + topP + ", seed "
                                + seed);
                out.printf(Locale.ROOT, "prefill: %d tokens, %.1f tok/s (%s)%n", st.promptTokens(),
                        st.prefillTokensPerSecond(), s.prefillMode());
                out.printf(Locale.ROOT, "decode:  %d tokens, %.1f tok/s, %.2f MB of weights read per token%n",
                        st.generated(), st.decodeTokensPerSecond(), w.bytesPerToken() / 1e6);
                out.printf(Locale.ROOT, "memory:  weights %.2f MB, KV cache %.2f MB (%d positions)%n",
                        w.bytesPerToken() / 1e6 + (m.weights().tiedClassifier() ? 0
                                : m.weights().tokenEmbedding().byteSize() / 1e6), s.kvBytes() / 1e6, capacity);
                m.w4ax().ifPresent(x -> out.println("w4ax:    " + x.describe()));
                if (s.lastReport() != null) {
                    out.println("last step: " + s.lastReport().tasks().size() + " tasks, "
                            + (s.lastReport().anyFallback() ? "with fallbacks" : "no fallback") + "; plan:");
                    out.println(s.describeDecodePlan().lines().limit(18).reduce((x, y) -> x + "\n" + y).orElse(""));
                    out.println("last step by op kind: " + s.describeLastStepByKind(8));
                    if (device.residentMemory() != null) {
                        // Tensors the step keeps in device memory between launches and tokens (TaskGraph.resident).
                        out.printf(Locale.ROOT, "resident on %s: %d regions, %.1f MB%n", device.id(),
                                device.residentMemory().regionCount(), device.residentMemory().deviceBytes() / 1e6);
                    }
                    List<String> fell = s.lastReport().tasks().stream().filter(t -> t.detail().startsWith("fallback"))
                            .map(t -> t.task() + " -> " + t.device() + " " + t.path()).toList();
                    if (!fell.isEmpty()) {
                        out.println("fallbacks (--fallback cpu): " + fell.size() + " tasks: " + String.join(", ",
                                fell.subList(0, Math.min(6, fell.size()))) + (fell.size() > 6 ? ", ..." : ""));
                    }
                }
            }
        } catch (RuntimeException e) {
            String msg = e.getMessage();
            if (msg != null && msg.contains("has no implementation on") && !fallback) {
                msg += " (--fallback cpu runs such tasks on the CPU and lists them)";
            }
            out.println("gale generate: " + msg);
            return 1;
        }
        return 0;
    }

    /** The model in the asked weight precision: quantized in memory from F32 (see {@link WeightQuantizer}). */
    private static LlamaModel convert(LlamaModel m, String weights, PrintStream out) {
        if (weights.equals("as-stored") || weights.equals("f32") && allOf(m, WeightType.F32)) {
            return m;
        }
        if (!allOf(m, WeightType.F32)) {
            throw new IllegalArgumentException("--weights " + weights + " converts F32 models; this one is stored "
                    + "quantized (use --weights as-stored, or gale quantize from the F32 file)");
        }
        WeightType t = weights.equals("q8_0") ? WeightType.Q8_0 : WeightType.Q4_0;
        WeightQuantizer.paddingNote(m.config()).ifPresent(n -> out.println("(" + n + " for " + weights + ")"));
        return WeightQuantizer.quantize(m, t);
    }

    private static boolean allOf(LlamaModel m, WeightType t) {
        return m.weights().all().stream().filter(x -> x.shape().length == 2).allMatch(x -> x.type() == t);
    }
}
