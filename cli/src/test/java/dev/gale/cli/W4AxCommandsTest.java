package dev.gale.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gale calibrate} and {@code --weights w4a4|w4a8} on stories260K (skipped without ../shared). */
class W4AxCommandsTest {
    @TempDir
    Path tmp;

    private static String run(int expectedExit, String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code = Gale.run(args, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(expectedExit, code, out);
        return out;
    }

    @Test
    void badW4AxOptionsExitWith2() {
        assertTrue(run(2, "perplexity", "--model", "m.bin", "--text", "t", "--weights", "w4a4")
                .contains("--calibration FILE"));
        assertTrue(run(2, "perplexity", "--model", "m.bin", "--text", "t", "--weights", "w4a8", "--fmpq", "on")
                .contains("w4a8 is all A8"));
        assertTrue(run(2, "generate", "--model", "m.bin", "--weights", "w4a4", "--fmpq", "off", "--group", "48")
                .contains("[32, 64, 128]"));
        assertTrue(run(2, "calibrate", "--model", "m.bin", "--out", "o.gguf").contains("--text is required"));
        assertTrue(run(2, "perplexity", "--model", "m.bin", "--text", "t", "--weights", "w4a4", "--fmpq", "off",
                "--act-clip", "1.5").contains("activation clip ratio must be in (0, 1]"));
        assertTrue(run(2, "perplexity", "--model", "m.bin", "--text", "t", "--weights", "w4a4", "--fmpq", "off",
                "--smooth", "0.5").contains("--smooth calibrates on a text"));
        assertTrue(run(2, "perplexity", "--model", "m.bin", "--text", "t", "--weights", "w4a8", "--weight-clip",
                "off", "--calibration", "c.txt").contains("--calibration is for FMPQ"));
    }

    @Test
    void calibrateWritesAFileThatGenerateAndPerplexityRun() throws Exception {
        Path stories = SharedTestFiles.require(SharedTestFiles.STORIES);
        Path emma = SharedTestFiles.require("data/text/austen_emma.txt");
        Path out = tmp.resolve("s-w4a4.gguf");
        String cal = run(0, "calibrate", "--model", stories.toString(), "--text", emma.toString(), "--out",
                out.toString(), "--group", "32", "--act-span", "32", "--calibration-tokens", "512");
        assertTrue(cal.contains("calibrated on 512 tokens") && cal.contains("FMPQ"), cal);
        String gen = run(0, "generate", "--model", out.toString(), "--steps", "30", "--kv", "int4");
        assertTrue(gen.startsWith("Once upon a time"), gen);
        assertTrue(gen.contains("w4ax:    w4a4 g32") && gen.contains("VECTOR_API (W4A4"), gen);
        Path shortText = Files.writeString(tmp.resolve("short.txt"), "Once upon a time there was a cat.");
        String err = run(1, "calibrate", "--model", stories.toString(), "--text", shortText.toString(), "--out",
                tmp.resolve("x.gguf").toString());
        assertTrue(err.contains("at least 512"), err);
    }

    @Test
    void perplexityRunsW4A8InMemory() {
        Path stories = SharedTestFiles.require(SharedTestFiles.STORIES);
        Path pride = SharedTestFiles.require("data/text/austen_pride_and_prejudice.txt");
        String text = run(0, "perplexity", "--model", stories.toString(), "--text", pride.toString(), "--tokens",
                "64", "--window", "64", "--weights", "w4a8", "--group", "32");
        assertTrue(text.contains("weights w4a8") && text.contains("w4ax: w4a8 g32"), text);
        assertTrue(text.contains("VECTOR_API (W4A8 g32"), text);
    }
}
