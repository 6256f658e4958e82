package dev.gale.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.models.LlamaModel;
import dev.gale.models.WeightType;
import dev.gale.models.gguf.LlamaGguf;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelCommandsTest {
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
    void badUsageExitsWith2() {
        assertTrue(run(2, "quantize", "--model", "x.bin").contains("--out is required"));
        assertTrue(run(2, "quantize", "--model", "x.bin", "--out", "y", "--type", "q5_1").contains("q8_0 or q4_0"));
        assertTrue(run(2, "synth", "--arch", "gpt-2", "--type", "f32", "--out", "x").contains("llama-3.2-1b"));
        assertTrue(run(2, "synth", "--arch", "llama-3-8b", "--type", "f32", "--out", "x", "--layers", "99")
                .contains("--layers must be 1..32"));
    }

    @Test
    void quantizeReportsBadFilesAndPadsTheFeedForward() throws Exception {
        Path bad = Files.write(tmp.resolve("bad.bin"), new byte[] {1, 2, 3});
        assertTrue(run(1, "quantize", "--model", bad.toString(), "--out", tmp.resolve("o.gguf").toString(), "--type",
                "q8_0").contains("at byte"));
        Path stories = SharedTestFiles.require(SharedTestFiles.STORIES);
        Path out = tmp.resolve("stories-q4.gguf");
        String text = run(0, "quantize", "--model", stories.toString(), "--out", out.toString(), "--type", "q4_0");
        assertTrue(text.contains("172 padded to 192"), text);
        try (LlamaModel m = LlamaGguf.load(out)) {
            assertEquals(WeightType.Q4_0, m.weights().layers().get(0).wq().type());
            assertEquals(WeightType.Q4_0, m.weights().layers().get(0).w2().type());
            assertEquals(192, m.config().hiddenDim());
        }
    }

    @Test
    void generateStreamsTheStoryAndReportsSpeedMemoryAndPlan() {
        Path stories = SharedTestFiles.require(SharedTestFiles.STORIES);
        String text = run(0, "generate", "--model", stories.toString(), "--steps", "40");
        assertTrue(text.startsWith("Once upon a time, there was a little girl named Lily."), text);
        assertTrue(text.contains("decode:") && text.contains("tok/s") && text.contains("KV cache")
                && text.contains("l0.attention -> cpu VECTOR_API"), text);
        String q4 = run(0, "generate", "--model", stories.toString(), "--steps", "20", "--weights", "q4_0", "--kv",
                "int4");
        assertTrue(q4.contains("172 padded to 192") && q4.contains("kv int4"), q4);
        String h2o = run(0, "generate", "--model", stories.toString(), "--steps", "30", "--kv-policy",
                "h2o:heavy:4,recent:8");
        assertTrue(h2o.contains("(h2o:heavy:4,recent:8)") && h2o.contains("h2o(heavy 4, recent 8"), h2o);
        assertTrue(run(1, "generate", "--model", stories.toString(), "--kv", "int4", "--kv-policy",
                "h2o:heavy:4,recent:8").contains("f32 cache"));
        assertTrue(run(2, "generate", "--model", stories.toString(), "--kv", "int3").contains("--kv must be one of"));
        assertTrue(run(2, "generate", "--model", stories.toString(), "--kv-policy", "sinks:4").contains("window"));
        assertTrue(run(1, "generate", "--model", tmp.resolve("missing.bin").toString()).contains("missing.bin"));
    }

    /**
     * An H2O cache on an OpenCL device: its append and attention have no device kernel in the decode graph, so the
     * run is an error naming the task and the option, and with {@code --fallback cpu} it runs them on the CPU, lists
     * them, and tells the same story as the CPU. A KIVI cache runs there with no fallback.
     */
    @Test
    void generateOnOpenClNamesTheTasksWithoutAKernelAndFallsBackOnlyWhenAsked() {
        Path stories = SharedTestFiles.require(SharedTestFiles.STORIES);
        boolean openCl = dev.gale.core.device.Devices.all().stream().anyMatch(d -> d.id().equals("opencl:0"));
        if (!openCl && "1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
            throw new AssertionError("GALE_REQUIRE_OPENCL=1 but no OpenCL device is present");
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(openCl, "no OpenCL device");
        String h2o = "h2o:heavy:4,recent:8";
        String refused = run(1, "generate", "--model", stories.toString(), "--steps", "20", "--device", "opencl:0",
                "--kv-policy", h2o);
        assertTrue(refused.contains("l0.kv_append") && refused.contains("--fallback cpu"), refused);
        String cpu = run(0, "generate", "--model", stories.toString(), "--steps", "20", "--kv-policy", h2o);
        String mixed = run(0, "generate", "--model", stories.toString(), "--steps", "20", "--device", "opencl:0",
                "--kv-policy", h2o, "--fallback", "cpu");
        assertEquals(cpu.substring(0, cpu.indexOf("---")), mixed.substring(0, mixed.indexOf("---")));
        assertTrue(mixed.contains("with fallbacks") && mixed.contains("l0.attention -> cpu VECTOR_API")
                && mixed.contains("l0.wq -> opencl:0 DEVICE_KERNEL"), mixed);
        String kivi = run(0, "generate", "--model", stories.toString(), "--steps", "20", "--device", "opencl:0",
                "--kv", "int4");
        assertTrue(kivi.contains("no fallback") && kivi.contains("l0.attention -> opencl:0 DEVICE_KERNEL"), kivi);
        assertTrue(run(2, "generate", "--model", stories.toString(), "--fallback", "gpu").contains("none, cpu"));
    }

    /**
     * A run saved with room to continue, resumed by a second run, prints the uninterrupted run's text: the second
     * continues from the pending token at the saved position (greedy, so the texts must agree). A cache saved with
     * another precision is refused with the file's field named.
     */
    @Test
    void generateSavesAndResumesTheKvCache() {
        Path stories = SharedTestFiles.require(SharedTestFiles.STORIES);
        Path file = tmp.resolve("ctx.arrow");
        String whole = run(0, "generate", "--model", stories.toString(), "--steps", "59");
        String first = run(0, "generate", "--model", stories.toString(), "--steps", "30", "--kv-capacity", "100",
                "--save-kv", file.toString());
        assertTrue(first.contains("(saved 29 cached tokens to " + file + ")"), first);
        String second = run(0, "generate", "--model", stories.toString(), "--resume-kv", file.toString(), "--steps",
                "30");
        assertTrue(second.contains("(resumed 29 cached tokens from " + file + ")"), second);
        String story = whole.substring(0, whole.indexOf("\n---"));
        String joined = first.substring(0, first.indexOf("\n(saved")) + second.substring(second.indexOf(")\n") + 2,
                second.indexOf("\n---"));
        assertEquals(story, joined);
        assertTrue(run(1, "generate", "--model", stories.toString(), "--resume-kv", file.toString(), "--kv", "f16")
                .contains("precision"));
    }

    @Test
    void perplexityPrintsTheNumberAndAProgressBar() {
        Path stories = SharedTestFiles.require(SharedTestFiles.STORIES);
        Path text = SharedTestFiles.require("data/text/austen_pride_and_prejudice.txt");
        String out = run(0, "perplexity", "--model", stories.toString(), "--text", text.toString(), "--tokens", "64",
                "--window", "32");
        assertTrue(out.contains("[########################################] 64/64") && out.contains("perplexity "),
                out);
        assertTrue(run(2, "perplexity", "--model", stories.toString(), "--text", text.toString(), "--tokens", "60",
                "--window", "32").contains("multiple"));
    }
}
