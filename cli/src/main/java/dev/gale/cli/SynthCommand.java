package dev.gale.cli;

import dev.gale.core.GaleException;
import dev.gale.models.LlamaConfig;
import dev.gale.models.WeightType;
import dev.gale.models.synth.SyntheticLlama;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** {@code gale synth}: a GGUF file with random weights in a real architecture's shape, for benchmarks. */
final class SynthCommand implements Gale.Command {
    private static final String USAGE = "usage: gale synth --arch llama-3.2-1b|llama-3-8b --type f32|q8_0|q4_0"
            + " --out FILE.gguf [--layers N] [--seed S]";

    @Override
    public String summary() {
        return "write a GGUF model with random weights in a real architecture's shape";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        Options o = Options.parse(args, List.of("--arch", "--type", "--out", "--layers", "--seed"));
        String problem = o.problem(List.of("--arch", "--type", "--out"));
        SyntheticLlama.Arch arch = problem == null ? SyntheticLlama.Arch.of(o.get("--arch")) : null;
        WeightType type = problem == null ? type(o.get("--type")) : null;
        int layers = 0;
        long seed = 1;
        if (problem == null) {
            try {
                layers = Integer.parseInt(o.get("--layers", "0"));
                seed = Long.parseLong(o.get("--seed", "1"));
            } catch (NumberFormatException e) {
                problem = "--layers and --seed take integers";
            }
        }
        if (problem == null && arch == null) {
            problem = "unknown --arch '" + o.get("--arch") + "'; one of " + Arrays.stream(SyntheticLlama.Arch.values())
                    .map(SyntheticLlama.Arch::id).toList();
        } else if (problem == null && type == null) {
            problem = "--type must be f32, q8_0 or q4_0, not '" + o.get("--type") + "'";
        } else if (problem == null && (layers < 0 || layers > arch.config().layers())) {
            problem = "--layers must be 1.." + arch.config().layers();
        }
        if (problem != null) {
            out.println("gale synth: " + problem);
            out.println(USAGE);
            return 2;
        }
        LlamaConfig c = SyntheticLlama.config(arch, layers);
        try {
            out.printf("gale synth: %s, %d of %d layers, %s, about %.2f GB of weights%n", arch.id(), c.layers(),
                    arch.config().layers(), type, SyntheticLlama.weightBytes(c, type) / 1e9);
            Reports.print(out, "gale synth", SyntheticLlama.write(c, type, Path.of(o.get("--out")), seed));
            return 0;
        } catch (GaleException e) {
            out.println("gale synth: " + e.getMessage());
            return 1;
        }
    }

    private static WeightType type(String name) {
        return name.toLowerCase(Locale.ROOT).equals("f32") ? WeightType.F32 : QuantizeCommand.quantizedType(name);
    }
}
