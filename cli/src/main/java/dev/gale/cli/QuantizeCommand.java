package dev.gale.cli;

import dev.gale.core.GaleException;
import dev.gale.models.LlamaModel;
import dev.gale.models.WeightType;
import dev.gale.models.gguf.LlamaGguf;
import dev.gale.models.llama.WeightQuantizer;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;
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
        CliArgs o;
        WeightType type;
        try {
            o = CliArgs.parse("quantize", args, Set.of("model", "out", "type"));
            o.require("model");
            o.require("out");
            type = quantizedType(o.require("type"));
            if (type == null) {
                throw new IllegalArgumentException("gale quantize: --type must be q8_0 or q4_0, not '"
                        + o.get("type", null) + "'");
            }
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage());
            out.println(USAGE);
            return 2;
        }
        Path in = Path.of(o.require("model"));
        try (LlamaModel src = in.getFileName().toString().endsWith(".gguf") ? LlamaGguf.load(in)
                : Llama2cCheckpoint.load(in);
             LlamaModel model = allF32(src) ? WeightQuantizer.quantize(src, type) : src) {
            if (src.w4ax().isPresent()) {
                out.println("gale quantize: " + in + " is a W4Ax file (" + src.w4ax().get().describe()
                        + "); quantize from the F32 model");
                return 1;
            }
            // From F32, a feed-forward width that is not whole blocks is padded with zeros (the same function), so
            // every matrix is quantized; from an already quantized file, such matrices stay as they are.
            if (model != src) {
                WeightQuantizer.paddingNote(src.config()).ifPresent(n -> out.println("gale quantize: " + n
                        + " with zero rows/columns (the same function)"));
            }
            LlamaGguf.WriteReport r = LlamaGguf.write(model, type, Path.of(o.require("out")));
            Reports.print(out, "gale quantize", r);
            return 0;
        } catch (GaleException e) {
            out.println("gale quantize: " + e.getMessage());
            return 1;
        }
    }

    private static boolean allF32(LlamaModel m) {
        return m.weights().all().stream().allMatch(t -> t.type() == WeightType.F32);
    }

    static WeightType quantizedType(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "q8_0" -> WeightType.Q8_0;
            case "q4_0" -> WeightType.Q4_0;
            default -> null;
        };
    }
}
