package dev.gale.cli;

import dev.gale.models.LlamaModel;
import dev.gale.models.ModelFiles;
import dev.gale.models.gguf.W4AxGguf;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code gale calibrate}: an F32 model to a W4Ax GGUF file. Calibrates FMPQ on a text (per-channel activation maxima,
 * outlier channels, permutation), folds the permutation into the weights, quantizes every layer matrix to W4 and
 * writes codes, scales and Gale's {@code gale.w4ax.*}/{@code gale.fmpq.*} keys (docs/w4a4.md). Any command that
 * takes {@code --model} runs the file as stored.
 */
final class CalibrateCommand implements Gale.Command {
    private static final String USAGE = "usage: gale calibrate --model IN.bin|IN.gguf --text CALIBRATION.txt "
            + "--out OUT.gguf [--weights w4a4|w4a8] [--tokenizer FILE] [--fmpq on|off] [--group 32|64|128] "
            + "[--outlier-factor F] [--calibration-tokens N] [--act-span 32|64|128] [--weight-clip on|off] "
            + "[--act-clip R] [--smooth A]";

    @Override
    public String summary() {
        return "calibrate FMPQ on a text and write a W4A4/W4A8 GGUF file";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        CliArgs a;
        W4AxChoice choice;
        String weights;
        try {
            Set<String> known = new HashSet<>(Set.of("model", "text", "out", "weights", "tokenizer"));
            known.addAll(W4AxChoice.OPTIONS);
            known.remove("calibration"); // the calibration text is --text here
            a = CliArgs.parse("calibrate", args, known);
            a.require("model");
            a.require("text");
            a.require("out");
            weights = a.choice("weights", "w4a4", List.of("w4a4", "w4a8"));
            choice = W4AxChoice.parse(a, weights, "calibrate", Path.of(a.require("text")));
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage());
            out.println(USAGE);
            return 2;
        }
        Path model = Path.of(a.require("model"));
        Path outFile = Path.of(a.require("out"));
        Path tokFile = a.has("tokenizer") ? Path.of(a.get("tokenizer", null)) : null;
        try (LlamaModel f32 = ModelFiles.load(model);
             LlamaModel w4 = choice.convert(withTokenizer(f32, model, tokFile), model, tokFile, out)) {
            W4AxGguf.write(w4, outFile);
            out.printf(Locale.ROOT, "gale calibrate: wrote %s (%.2f MB): %s%n", outFile, Files.size(outFile) / 1e6,
                    w4.w4ax().orElseThrow().describe());
            return 0;
        } catch (java.io.IOException | RuntimeException e) {
            out.println("gale calibrate: " + e.getMessage());
            return 1;
        }
    }

    /** The model with its tokenizer attached, so that the GGUF file carries it. */
    private static LlamaModel withTokenizer(LlamaModel m, Path model, Path tokFile) {
        return m.tokenizer().isPresent() ? m : new LlamaModel(m.config(), m.weights(),
                java.util.Optional.of(ModelFiles.tokenizer(m, model, tokFile)));
    }
}
