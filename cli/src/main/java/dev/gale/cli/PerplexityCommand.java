package dev.gale.cli;

import dev.gale.core.device.Device;
import dev.gale.core.device.Devices;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.models.LlamaModel;
import dev.gale.models.ModelFiles;
import dev.gale.models.WeightType;
import dev.gale.models.llama.BoundWeights;
import dev.gale.models.llama.KvPolicy;
import dev.gale.models.llama.LlamaSession;
import dev.gale.models.llama.Perplexity;
import dev.gale.models.llama.WeightQuantizer;
import dev.gale.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.apache.arrow.memory.RootAllocator;

/**
 * {@code gale perplexity}: a model's perplexity on a text file (its first N tokens, in windows that each start with
 * BOS), with a progress bar, for comparing weight and KV precisions and cache policies.
 */
final class PerplexityCommand implements Gale.Command {
    private static final String USAGE = "usage: gale perplexity --model FILE.bin|FILE.gguf --text FILE [--tokenizer FILE] "
            + "[--tokens N] [--window W] [--weights as-stored|q8_0|q4_0|w4a4|w4a8] " + W4AxChoice.USAGE
            + " [--kv f32|f16|int8|int4|int2] "
            + "[--kv-policy full|sinks:S,window:W|h2o:heavy:H,recent:R] [--device cpu|opencl:N]";

    @Override
    public String summary() {
        return "perplexity of a model on a text file";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        CliArgs a;
        int tokens;
        int window;
        KvPrecision kv;
        KvPolicy policy;
        String weights;
        W4AxChoice w4 = null;
        try {
            Set<String> known = new java.util.HashSet<>(Set.of("model", "text", "tokenizer", "tokens", "window",
                    "weights", "kv", "kv-policy", "device"));
            known.addAll(W4AxChoice.OPTIONS);
            a = CliArgs.parse("perplexity", args, known);
            a.require("model");
            a.require("text");
            tokens = a.integer("tokens", 1024, 1);
            window = a.integer("window", 256, 1);
            weights = a.choice("weights", "as-stored", List.of("as-stored", "q8_0", "q4_0", "w4a4", "w4a8"));
            if (W4AxChoice.isW4Ax(weights)) {
                w4 = W4AxChoice.parse(a, weights, "perplexity");
            }
            kv = KvPrecision.valueOf(a.choice("kv", "f32", List.of("f32", "f16", "int8", "int4", "int2"))
                    .toUpperCase(Locale.ROOT));
            policy = KvPolicy.parse(a.get("kv-policy", "full"));
            if (tokens % window != 0) {
                throw new IllegalArgumentException("gale perplexity: --tokens " + tokens + " must be a multiple of "
                        + "--window " + window);
            }
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage());
            out.println(USAGE);
            return 2;
        }
        Path model = Path.of(a.require("model"));
        Device device = Devices.byId(a.get("device", "cpu"));
        Path tokFile = a.has("tokenizer") ? Path.of(a.get("tokenizer", null)) : null;
        W4AxChoice w4x = w4;
        try (LlamaModel loaded = ModelFiles.load(model);
             LlamaModel m = weights.equals("as-stored") ? loaded : w4x != null ? w4x.convert(loaded, model, tokFile,
                     out) : WeightQuantizer.quantize(loaded, weights.equals("q8_0") ? WeightType.Q8_0
                     : WeightType.Q4_0);
             BoundWeights w = new BoundWeights(m); RootAllocator alloc = new RootAllocator()) {
            Tokenizer tok = ModelFiles.tokenizer(loaded, model, tokFile);
            int[] ids = Perplexity.firstTokens(tok, Files.readString(Path.of(a.require("text"))), tokens);
            int capacity = policy.budget() > 0 ? policy.budget() : window;
            LlamaSession.Options o = new LlamaSession.Options(device, kv, capacity, 0f, 1f, 1, false, policy);
            long t0 = System.nanoTime();
            Perplexity.Result r = Perplexity.evaluate(w, alloc, o, tok, ids, window, done -> bar(out, done, tokens));
            out.println();
            out.printf(Locale.ROOT, "perplexity %.4f (mean NLL %.5f) over %d tokens in %d windows of %d; weights %s, "
                    + "kv %s (%s), device %s, %.1f tok/s%n", r.perplexity(), r.meanNll(), r.tokens(), r.windows(),
                    window, weights, kv.name().toLowerCase(Locale.ROOT), policy, device.id(),
                    r.tokens() * 1e9 / (System.nanoTime() - t0));
            if (m.w4ax().isPresent()) {
                W4AxChoice.report(out, m, w, alloc, o);
            }
            return 0;
        } catch (IOException | RuntimeException e) {
            out.println("gale perplexity: " + e.getMessage());
            return 1;
        }
    }

    /** A one-line progress bar, redrawn in place every 2% (and at the end). */
    private static void bar(PrintStream out, int done, int total) {
        int step = Math.max(1, total / 50);
        if (done % step != 0 && done != total) {
            return;
        }
        int filled = (int) (40L * done / total);
        out.print("\r[" + "#".repeat(filled) + " ".repeat(40 - filled) + "] " + done + "/" + total);
        out.flush();
    }
}
