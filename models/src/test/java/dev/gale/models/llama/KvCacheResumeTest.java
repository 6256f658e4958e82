package dev.gale.models.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.kernels.attention.KvPrecision;
import dev.gale.core.device.Device;
import dev.gale.core.device.Devices;
import dev.gale.kvcache.KvCacheFileException;
import dev.gale.models.LlamaModel;
import dev.gale.models.ModelIdentity;
import dev.gale.models.SharedFiles;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import dev.gale.models.tokenizer.Llama2cTokenizerFile;
import dev.gale.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A session's KV cache saved to an Arrow IPC file and mapped back in a fresh JVM continues exactly as the
 * uninterrupted session does (greedy with an F32 cache, seeded sampling with an F16 cache, whose coin stream is saved
 * too, and greedy with a KIVI INT4 cache long enough that quantized groups, the residual ring and its length all
 * travel); a file from another model or precision is refused.
 */
class KvCacheResumeTest {
    static LlamaSession.Options options(Device d, String kv, float temperature) {
        return new LlamaSession.Options(d, KvPrecision.valueOf(kv.toUpperCase(java.util.Locale.ROOT)), 256,
                temperature, 0.9f, 42, false, KvPolicy.FULL);
    }

    @Test
    void aFreshJvmContinuesASavedSessionExactly(@TempDir Path dir) throws Exception {
        Path model = SharedFiles.require(SharedFiles.STORIES_BIN);
        Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
        for (String kv : new String[] {"f32", "f16", "int4"}) {
            float temperature = kv.equals("f16") ? 1f : 0f;
            // KIVI keeps the last 128 tokens in full precision: save past them so quantized groups are in the file.
            int before = kv.equals("int4") ? 170 : 10;
            Path file = dir.resolve("session-" + kv + ".arrow");
            List<Integer> uninterrupted = new ArrayList<>();
            String id;
            try (LlamaModel m = Llama2cCheckpoint.load(model);
                 BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator();
                 LlamaSession s = new LlamaSession(w, alloc, "first", options(Devices.cpu(), kv, temperature))) {
                id = ModelIdentity.of(m);
                int next = s.prefill(tok.encode("Once upon a time, a dog named Max", true, false));
                for (int i = 0; i < before; i++) {
                    next = s.step(next);
                }
                s.save(file, id, Map.of("next", Integer.toString(next)));
                for (int i = 0; i < 30; i++) {
                    uninterrupted.add(next);
                    next = s.step(next);
                }
                // Another model's identity and another precision are refused with the field named.
                KvCacheFileException e = assertThrows(KvCacheFileException.class, () -> LlamaSession.resume(w, alloc,
                        "x", options(Devices.cpu(), kv, temperature), file, "llama-sha256:other"));
                assertEquals("gale.kv.model", e.field());
                String other = kv.equals("f32") ? "f16" : kv.equals("f16") ? "f32" : "int8";
                assertThrows(KvCacheFileException.class, () -> LlamaSession.resume(w, alloc, "x",
                        options(Devices.cpu(), other, temperature), file, id));
            }
            String resumed = runResumer(model, file, kv, temperature, 30);
            StringJoiner want = new StringJoiner(",");
            uninterrupted.forEach(t -> want.add(t.toString()));
            assertEquals(want.toString(), resumed, kv + " cache");
        }
    }

    private static String runResumer(Path model, Path file, String kv, float temperature, int n) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--") || a.startsWith("-Xmx") || a.startsWith("-XX:UseAVX")) {
                cmd.add(a);
            }
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), KvResumeMain.class.getName(),
                model.toString(), file.toString(), kv, Float.toString(temperature), Integer.toString(n)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the resuming JVM did not finish");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, p.exitValue(), out);
        String[] lines = out.split("\n");
        return lines[lines.length - 1].strip();
    }
}
