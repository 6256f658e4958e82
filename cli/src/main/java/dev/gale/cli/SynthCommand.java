package dev.gale.cli;

import dev.gale.core.GaleException;
import dev.gale.models.LlamaConfig;
import dev.gale.models.WeightType;
import dev.gale.models.synth.SyntheticLlama;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
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
        CliArgs o;
        SyntheticLlama.Arch arch;
        WeightType type;
        int layers;
        long seed;
        try {
            o = CliArgs.parse("synth", args, Set.of("arch", "type", "out", "layers", "seed"));
            arch = SyntheticLlama.Arch.of(o.require("arch"));
            if (arch == null) {
                throw new IllegalArgumentException("gale synth: unknown --arch '" + o.get("arch", null) + "'; one of "
                        + Arrays.stream(SyntheticLlama.Arch.values()).map(SyntheticLlama.Arch::id).toList());
            }
            type = type(o.require("type"));
            if (type == null) {
                throw new IllegalArgumentException("gale synth: --type must be f32, q8_0 or q4_0, not '"
                        + o.get("type", null) + "'");
            }
            o.require("out");
            layers = o.integer("layers", 0, 0);
            seed = o.integer("seed", 1, 0);
            if (layers > arch.config().layers()) {
                throw new IllegalArgumentException("gale synth: --layers must be 1.." + arch.config().layers());
            }
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage());
            out.println(USAGE);
            return 2;
        }
        LlamaConfig c = SyntheticLlama.config(arch, layers);
        try {
            out.printf("gale synth: %s, %d of %d layers, %s, about %.2f GB of weights%n", arch.id(), c.layers(),
                    arch.config().layers(), type, SyntheticLlama.weightBytes(c, type) / 1e9);
            Reports.print(out, "gale synth", SyntheticLlama.write(c, type, Path.of(o.require("out")), seed));
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
