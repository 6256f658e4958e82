package dev.gale.cli;

import dev.gale.core.GaleException;
import dev.gale.models.LlamaModel;
import dev.gale.models.WeightType;
import dev.gale.models.gguf.LlamaGguf;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** {@code gale quantize}: a llama2.c or GGUF model to a GGUF file with Q8_0 or Q4_0 matrices. */
final class QuantizeCommand implements Gale.Command {
    private static final String USAGE = "usage: gale quantize --model IN.bin|IN.gguf --out OUT.gguf --type q8_0|q4_0";

    @Override
    public String summary() {
        return "write a llama2.c or GGUF model as GGUF with Q8_0 or Q4_0 weights";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        Options o = Options.parse(args, List.of("--model", "--out", "--type"));
        String problem = o.problem(List.of("--model", "--out", "--type"));
        WeightType type = problem == null ? quantizedType(o.get("--type")) : null;
        if (problem == null && type == null) {
            problem = "--type must be q8_0 or q4_0, not '" + o.get("--type") + "'";
        }
        if (problem != null) {
            out.println("gale quantize: " + problem);
            out.println(USAGE);
            return 2;
        }
        Path in = Path.of(o.get("--model"));
        try (LlamaModel model = in.getFileName().toString().endsWith(".gguf") ? LlamaGguf.load(in)
                : Llama2cCheckpoint.load(in)) {
            LlamaGguf.WriteReport r = LlamaGguf.write(model, type, Path.of(o.get("--out")));
            Reports.print(out, "gale quantize", r);
            return 0;
        } catch (GaleException e) {
            out.println("gale quantize: " + e.getMessage());
            return 1;
        }
    }

    static WeightType quantizedType(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "q8_0" -> WeightType.Q8_0;
            case "q4_0" -> WeightType.Q4_0;
            default -> null;
        };
    }
}
