package dev.gale.cli;

import dev.gale.models.LlamaModel;
import dev.gale.models.ModelFiles;
import dev.gale.models.llama.Calibration;
import dev.gale.models.llama.W4AxConversion;
import dev.gale.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The W4Ax options shared by {@code gale generate}, {@code gale perplexity} and {@code gale calibrate}:
 * {@code --weights w4a4|w4a8}, {@code --calibration FILE} (the text FMPQ calibrates on), {@code --fmpq on|off},
 * {@code --group 32|64|128}, {@code --outlier-factor F}, {@code --calibration-tokens N}, {@code --act-span
 * 32|64|128} (activation channels per scale), {@code --weight-clip on|off} (each weight group's scale by a clip
 * search, weighted by the calibration text's {@code E[x²]}; on by default when there is a calibration text, else off),
 * {@code --act-clip R} (A4 activation clip ratio, default 0.9) and {@code --smooth A} (SmoothQuant exponent, 0 = off).
 */
final class W4AxChoice {
    static final Set<String> OPTIONS = Set.of("calibration", "fmpq", "group", "outlier-factor", "calibration-tokens",
            "act-span", "weight-clip", "act-clip", "smooth");
    static final String USAGE = "[--calibration TEXT] [--fmpq on|off] [--group 32|64|128] [--outlier-factor F] "
            + "[--calibration-tokens N] [--act-span 32|64|128] [--weight-clip on|off] [--act-clip R] [--smooth A]";

    final W4AxConversion.Options options;
    final Path calibration;
    final int calibrationTokens;

    private W4AxChoice(W4AxConversion.Options options, Path calibration, int calibrationTokens) {
        this.options = options;
        this.calibration = calibration;
        this.calibrationTokens = calibrationTokens;
    }

    static boolean isW4Ax(String weights) {
        return weights.equals("w4a4") || weights.equals("w4a8");
    }

    /**
     * The choice for {@code --weights scheme}: w4a4 is FMPQ unless {@code --fmpq off}, and FMPQ (or smoothing)
     * needs {@code --calibration}; otherwise a calibration text only weights the weight clip search.
     */
    static W4AxChoice parse(CliArgs a, String scheme, String command) {
        return parse(a, scheme, command, a.has("calibration") ? Path.of(a.get("calibration", null)) : null);
    }

    /** As {@link #parse(CliArgs, String, String)} with the calibration text given ({@code gale calibrate --text}). */
    static W4AxChoice parse(CliArgs a, String scheme, String command, Path calibrationText) {
        boolean fmpq = scheme.equals("w4a4") && a.choice("fmpq", "on", List.of("on", "off")).equals("on");
        if (scheme.equals("w4a8") && a.has("fmpq") && a.get("fmpq", "").equals("on")) {
            throw new IllegalArgumentException("gale " + command + ": --fmpq on mixes A4 and A8; w4a8 is all A8");
        }
        int group = Integer.parseInt(a.choice("group", "128", List.of("32", "64", "128")));
        int span = Integer.parseInt(a.choice("act-span", "128", List.of("32", "64", "128")));
        float factor = a.decimal("outlier-factor", W4AxConversion.Options.DEFAULT_FACTOR);
        int tokens = a.integer("calibration-tokens", 4096, Calibration.MIN_TOKENS);
        Path cal = calibrationText;
        // the clip search is measured weighted by a calibration text's E[x²]; without one it is opt-in (unweighted)
        boolean clip = a.choice("weight-clip", cal != null ? "on" : "off", List.of("on", "off")).equals("on");
        float actClip = a.decimal("act-clip", W4AxConversion.Options.DEFAULT_ACTIVATION_CLIP);
        float smooth = a.decimal("smooth", 0f);
        if ((fmpq || smooth > 0) && cal == null) {
            throw new IllegalArgumentException("gale " + command + ": " + (fmpq ? "--weights w4a4" : "--smooth")
                    + " calibrates on a text: pass --calibration FILE" + (fmpq ? " (or --fmpq off for plain W4A4)"
                    : ""));
        }
        if (!fmpq && smooth == 0 && !clip && cal != null && a.has("calibration")) {
            throw new IllegalArgumentException("gale " + command + ": --calibration is for FMPQ, --smooth or "
                    + "--weight-clip on");
        }
        return new W4AxChoice(new W4AxConversion.Options(scheme, group, fmpq, factor, span, clip, smooth, actClip),
                cal, tokens);
    }

    /**
     * Names the W4Ax implementation that ran: the model's scheme, and the plan lines of the decode step's first
     * W4Ax matmuls (path and detail, as the planner chose them for this device).
     */
    static void report(PrintStream out, LlamaModel m, dev.gale.models.llama.BoundWeights w,
            org.apache.arrow.memory.BufferAllocator alloc, dev.gale.models.llama.LlamaSession.Options o) {
        out.println("w4ax: " + m.w4ax().orElseThrow().describe());
        try (var s = new dev.gale.models.llama.LlamaSession(w, alloc, "w4ax report", o)) {
            s.describeDecodePlan().lines().filter(l -> l.contains(" g" + m.w4ax().get().group() + ",")).limit(3)
                    .forEach(l -> out.println("  " + l.strip()));
        }
    }

    /** {@code f32} converted (calibrating first when FMPQ), with a line on what was done. */
    LlamaModel convert(LlamaModel f32, Path model, Path tokenizer, PrintStream out) {
        Calibration.Stats stats = null;
        if (calibration != null && (options.calibrated() || options.clip())) {
            Tokenizer tok = ModelFiles.tokenizer(f32, model, tokenizer);
            String text;
            try {
                text = Files.readString(calibration);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read calibration text " + calibration + ": " + e.getMessage(),
                        e);
            }
            long t0 = System.nanoTime();
            stats = Calibration.collect(f32, tok, calibration.toString(), text, calibrationTokens);
            out.printf(java.util.Locale.ROOT, "(calibrated on %d tokens of %s in %.1f s)%n", stats.tokens(),
                    calibration.getFileName(), (System.nanoTime() - t0) / 1e9);
        }
        return W4AxConversion.convert(f32, stats, options);
    }
}
