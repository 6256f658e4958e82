package dev.gale.models.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.device.Device;
import dev.gale.core.device.Devices;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.models.LlamaModel;
import dev.gale.models.SharedFiles;
import dev.gale.models.llama2c.Llama2cCheckpoint;
import dev.gale.models.tokenizer.Llama2cTokenizerFile;
import dev.gale.models.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * The F32 decoder reproduces llama2.c's published greedy stories260K sample token for token from BOS, as one decode
 * graph per step, on the CPU.
 */
class GreedyStoryTest {
    static final String STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in "
            + "the park. One day, she saw a big, red ball";

    static List<Integer> greedy(Device device, int steps) {
        try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
             BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator();
             LlamaSession s = new LlamaSession(w, alloc, "greedy", LlamaSession.Options.greedy(device,
                     m.config().seqLen()))) {
            List<Integer> out = new ArrayList<>();
            int token = Llama2cTokenizerFile.BOS;
            for (int i = 0; i < steps; i++) {
                token = s.step(token);
                out.add(token);
            }
            assertFalse(s.lastReport().anyFallback(), s.lastReport().toString());
            return out;
        }
    }

    static String text(List<Integer> tokens) {
        Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
        int[] ids = new int[tokens.size() + 1];
        ids[0] = Llama2cTokenizerFile.BOS;
        for (int i = 0; i < tokens.size(); i++) {
            ids[i + 1] = tokens.get(i);
        }
        return tok.decode(ids);
    }

    @Test
    void cpuReproducesTheGreedySample() {
        String got = text(greedy(Devices.cpu(), 64));
        assertTrue(got.startsWith(STORY), got);
    }

    /**
     * stories260K written as an F32 GGUF with its tokenizer embedded, read back, generates the llama2.c file's tokens;
     * and its Q4_0 GGUF (feed-forward padded) generates what the in-memory Q4_0 model does.
     */
    @Test
    void ggufCopiesGenerateLikeTheirSources(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
        java.nio.file.Path f32 = dir.resolve("s.gguf");
        java.nio.file.Path q4 = dir.resolve("s-q4.gguf");
        try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN))) {
            LlamaModel withTok = new LlamaModel(m.config(), m.weights(), java.util.Optional.of(tok));
            dev.gale.models.gguf.LlamaGguf.write(withTok, dev.gale.models.WeightType.F32, f32);
            try (LlamaModel q = WeightQuantizer.quantize(Llama2cCheckpoint.load(
                    SharedFiles.require(SharedFiles.STORIES_BIN)), dev.gale.models.WeightType.Q4_0)) {
                dev.gale.models.gguf.LlamaGguf.write(q, dev.gale.models.WeightType.Q4_0, q4);
                assertEquals(greedy(q, 40), greedyFile(q4, 40));
            }
        }
        assertEquals(greedy(Devices.cpu(), 40), greedyFile(f32, 40));
        try (LlamaModel g = dev.gale.models.gguf.LlamaGguf.load(f32)) {
            int[] want = tok.encode("Lily loved the red ball", true, false);
            assertEquals(java.util.Arrays.toString(want),
                    java.util.Arrays.toString(g.tokenizer().orElseThrow().encode("Lily loved the red ball", true,
                            false)));
        }
    }

    private static List<Integer> greedyFile(java.nio.file.Path file, int steps) {
        try (LlamaModel m = dev.gale.models.gguf.LlamaGguf.load(file)) {
            return greedy(m, steps);
        }
    }

    static List<Integer> greedy(LlamaModel m, int steps) {
        try (BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator();
             LlamaSession s = new LlamaSession(w, alloc, "greedy", LlamaSession.Options.greedy(Devices.cpu(),
                     m.config().seqLen()))) {
            List<Integer> out = new ArrayList<>();
            int token = Llama2cTokenizerFile.BOS;
            for (int i = 0; i < steps; i++) {
                token = s.step(token);
                out.add(token);
            }
            return out;
        }
    }

    /** The same graph compiled for each OpenCL device: every task runs there, and the story is the same. */
    @Test
    void openClDevicesReproduceTheGreedySample() {
        List<Device> devices = new dev.gale.opencl.OpenClDeviceProvider().devices();
        if (devices.isEmpty() && "1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
            throw new AssertionError("GALE_REQUIRE_OPENCL=1 but no OpenCL device is present");
        }
        org.junit.jupiter.api.Assumptions.assumeFalse(devices.isEmpty(), "no OpenCL device");
        List<Integer> cpu = greedy(Devices.cpu(), 48);
        for (Device d : devices) {
            assertEquals(cpu, greedy(d, 48), d.id());
            // A prompt on the device starts its sequence: one batched pass, attention over the prompt, all on the device.
            try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
                 BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator();
                 LlamaSession s = new LlamaSession(w, alloc, "prompt", LlamaSession.Options.greedy(d, 64))) {
                int[] prompt = new int[] {Llama2cTokenizerFile.BOS, cpu.get(0), cpu.get(1)};
                assertEquals(cpu.get(2), s.prefill(prompt));
                assertEquals("batched: attention over the prompt", s.prefillMode());
                assertFalse(s.lastReport().anyFallback(), s.lastReport().toString());
                var attention = s.lastReport().task("l0.attention");
                assertEquals(d.id(), attention.device(), attention.toString());
                assertTrue(s.lastReport().toString().contains("llama fresh prefill x3"), s.lastReport().toString());
                // Continuing it: one batched pass with attention over the cache, on the device too.
                assertEquals(cpu.get(4), s.prefill(new int[] {cpu.get(2), cpu.get(3)}));
                assertEquals("batched: attention over the cache", s.prefillMode());
                assertFalse(s.lastReport().anyFallback(), s.lastReport().toString());
                assertEquals(d.id(), s.lastReport().task("l0.attention").device(), s.lastReport().toString());
            }
        }
    }

    /**
     * The StreamingLLM and KIVI caches on each OpenCL device, in lockstep with the CPU: the prompt in one batched
     * pass, a second prompt continuing the sequence (its tokens appended and attending in order on the device: the
     * ring wraps inside it, KIVI quantizes its first window inside it), then decoding well past the sink ring's
     * capacity or KIVI's residual window of 128, both fed the CPU's greedy tokens. Every step's logits
     * must agree with the CPU's, and the device's greedy choice must be the CPU's unless the CPU's own top two were
     * closer than the two devices' logits differ (a tie within noise); the append and the attention run on the device
     * with no fallback.
     *
     * <p>Tolerances, relative to the largest logit: 1e-4 for an F32 cache (the devices sum in different orders;
     * measured ~5e-7); 1e-2 for caches stored below F32 (F16, KIVI), where a value at a rounding edge may round the
     * other way on the other device (its inputs differ in the last bits) and move that key or value by a whole F16
     * ulp or quantization step (measured up to 2.3e-3 at INT4 over 160 steps; the test prints each run's worst).
     */
    @Test
    void openClDevicesRunTheSinkAndKiviCaches() {
        List<Device> devices = new dev.gale.opencl.OpenClDeviceProvider().devices();
        if (devices.isEmpty() && "1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
            throw new AssertionError("GALE_REQUIRE_OPENCL=1 but no OpenCL device is present");
        }
        org.junit.jupiter.api.Assumptions.assumeFalse(devices.isEmpty(), "no OpenCL device");
        try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
             BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator()) {
            Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
            int[] prompt = tok.encode("Once upon a time, there was a little dog named Max", true, false);
            String story = " Max liked to run in the park with his friend Tom. They played with a red ball every"
                    + " day. One day the ball went into the pond, and Max jumped in to get it. Tom laughed and"
                    + " laughed. Then they went home and had a big lunch with their mom, and they were very happy.";
            int[] more = tok.encode(story + story, false, false);
            Object[][] caches = {{KvPrecision.F32, KvPolicy.parse("sinks:4,window:24"), 80},
                {KvPrecision.F16, KvPolicy.parse("sinks:4,window:24"), 80}, {KvPrecision.INT4, KvPolicy.FULL, 160},
                {KvPrecision.INT8, KvPolicy.FULL, 160}};
            for (Object[] c : caches) {
                for (Device d : devices) {
                    lockstep(w, alloc, d, (KvPrecision) c[0], (KvPolicy) c[1], prompt, more, (Integer) c[2]);
                }
            }
        }
    }

    /**
     * A device with memory of its own (the emulator behind {@link dev.gale.core.emulator.SeparateMemoryDevice}, which
     * copies resident tensors exactly as the CUDA backend does) keeps the step's activations and dense cache there:
     * the greedy story is the CPU's; dense F32 and F16 caches and a sink cache run in lockstep with the CPU; after the
     * first step a decode step copies only the attention's work list (its segments, once per step, not per layer); a
     * cache saved from it resumes on the CPU and continues as an uninterrupted CPU session does; and closing the
     * session frees its device copies (the thread's decode work list and partial states stay, for its next session).
     * A host read of a tensor a kernel wrote, or a host write the device never hears of, would break one of these.
     */
    @Test
    void aDeviceWithItsOwnMemoryKeepsTheStepResident(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        var d = new dev.gale.core.emulator.SeparateMemoryDevice();
        assertEquals(greedy(Devices.cpu(), 32), greedy(d, 32));
        // What stays: this thread's decode work list and partial states, shared by its sessions (DecodeLaunchBuffers).
        int scratch = d.residentMemory().regionCount();
        assertTrue(scratch <= 4, "a closed session leaves only the thread's decode scratch, not " + scratch
                + " regions");
        try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
             BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator()) {
            Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
            int[] prompt = tok.encode("Once upon a time, there was a little dog named Max", true, false);
            java.nio.file.Path file = dir.resolve("device.arrow");
            List<Integer> uninterrupted = new ArrayList<>();
            int atSave;
            try (LlamaSession cpu = new LlamaSession(w, alloc, "cpu", LlamaSession.Options.greedy(Devices.cpu(), 96));
                 LlamaSession dev = new LlamaSession(w, alloc, "dev", LlamaSession.Options.greedy(d, 96))) {
                assertTrue(dev.describeDecodePlan().contains("resident on " + d.id() + ": x, h, o"),
                        dev.describeDecodePlan());
                int t = cpu.prefill(prompt);
                assertEquals(t, dev.prefill(prompt));
                int fed = t;
                t = cpu.step(fed);
                assertEquals(t, dev.step(fed));
                d.copiesByName();
                for (int i = 0; i < 8; i++) {
                    fed = t;
                    t = cpu.step(fed);
                    assertEquals(t, dev.step(fed), "step " + i);
                }
                // Only the attention's work list goes up, once per step (it grows with the sequence); nothing else.
                var copies = d.copiesByName();
                assertEquals(Set.of("'decode.segments'"), copies.keySet(), copies.toString());
                assertTrue(copies.get("'decode.segments'") <= 8 * 256, copies.toString());
                agree(cpu.logits(), dev.logits(), 1e-4, "after the steps", t, t);
                dev.save(file, "stories260K", java.util.Map.of());
                atSave = t;
                for (int i = 0; i < 12; i++) {
                    t = cpu.step(t);
                    uninterrupted.add(t);
                }
                assertTrue(d.residentMemory().regionCount() > 0);
            }
            assertEquals(scratch, d.residentMemory().regionCount(), "a closed session leaves nothing of its own");
            try (LlamaSession resumed = LlamaSession.resume(w, alloc, "resumed",
                    LlamaSession.Options.greedy(Devices.cpu(), 96), file, "stories260K")) {
                List<Integer> got = new ArrayList<>();
                int t = atSave;
                for (int i = 0; i < 12; i++) {
                    t = resumed.step(t);
                    got.add(t);
                }
                assertEquals(uninterrupted, got, "the cache saved from the device, continued on the CPU");
            }
            String story = " Max liked to run in the park with his friend Tom. They played with a red ball every"
                    + " day. One day the ball went into the pond, and Max jumped in to get it. Tom laughed and"
                    + " laughed. Then they went home and had a big lunch with their mom, and they were very happy.";
            int[] more = tok.encode(story, false, false);
            // Dense caches keep q, k, v, att and the cache resident; a sink cache (as KIVI, H2O) keeps them copied.
            Object[][] caches = {{KvPrecision.F32, KvPolicy.FULL, 12}, {KvPrecision.F16, KvPolicy.FULL, 8},
                {KvPrecision.F32, KvPolicy.parse("sinks:4,window:24"), 24}};
            for (Object[] c : caches) {
                lockstep(w, alloc, d, (KvPrecision) c[0], (KvPolicy) c[1], prompt, more, (Integer) c[2]);
            }
        }
        assertEquals(scratch, d.residentMemory().regionCount(), "closed sessions leave nothing of their own");
    }

    /**
     * Two sessions decoding at once from two threads on one device with its own memory: each holds its own resident
     * tensors in the device's one {@code ResidentMemory}, the weights are shared, and each thread has its own decode
     * scratch there; both stories are the CPU's.
     */
    @Test
    void twoThreadsDecodeAtOnceOnADeviceWithItsOwnMemory() throws Exception {
        var d = new dev.gale.core.emulator.SeparateMemoryDevice();
        List<Integer> want = greedy(Devices.cpu(), 16);
        try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
             BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator()) {
            java.util.concurrent.Callable<List<Integer>> decode = () -> {
                try (LlamaSession s = new LlamaSession(w, alloc, Thread.currentThread().getName(),
                        LlamaSession.Options.greedy(d, 32))) {
                    List<Integer> out = new ArrayList<>();
                    int token = Llama2cTokenizerFile.BOS;
                    for (int i = 0; i < 16; i++) {
                        token = s.step(token);
                        out.add(token);
                    }
                    return out;
                }
            };
            try (var pool = java.util.concurrent.Executors.newFixedThreadPool(2)) {
                var a = pool.submit(decode);
                var b = pool.submit(decode);
                assertEquals(want, a.get());
                assertEquals(want, b.get());
            }
        }
    }

    private static void lockstep(BoundWeights w, RootAllocator alloc, Device d, KvPrecision kv, KvPolicy policy,
            int[] prompt, int[] more, int steps) {
        assertTrue(kv.quantized() ? prompt.length + more.length > 128
                : prompt.length + more.length > policy.budget(), "the second prompt must cross the window");
        double tol = kv == KvPrecision.F32 ? 1e-4 : 1e-2;
        double worst = 0;
        int capacity = policy.budget() > 0 ? policy.budget() : prompt.length + more.length + steps;
        String what = d.id() + " " + kv + " " + policy;
        try (LlamaSession cpu = new LlamaSession(w, alloc, "cpu", new LlamaSession.Options(Devices.cpu(), kv,
                capacity, 0f, 1f, 1, false, policy));
             LlamaSession device = new LlamaSession(w, alloc, "dev", new LlamaSession.Options(d, kv, capacity, 0f, 1f,
                1, false, policy))) {
            int t = cpu.prefill(prompt);
            int u = device.prefill(prompt);
            // Every cache takes the prompt in one batched pass, on a device too (KIVI's device append launches
            // once per token of the batch).
            assertTrue(device.prefillMode().startsWith("batched"), what + ": " + device.prefillMode());
            assertEquals(d.id(), device.lastReport().task("l0.kv_append").device(), what);
            worst = agree(cpu.logits(), device.logits(), tol, what + " first prompt", t, u);
            t = cpu.prefill(more);
            u = device.prefill(more);
            assertTrue(device.prefillMode().startsWith("batched"), what + ": " + device.prefillMode());
            var inOrder = device.lastReport().task("l0.attention");
            assertEquals(d.id(), inOrder.device(), inOrder.toString());
            assertEquals(dev.gale.core.device.ImplPath.DEVICE_KERNEL, inOrder.path(), inOrder.toString());
            for (int i = 0; i <= steps; i++) {
                worst = Math.max(worst, agree(cpu.logits(), device.logits(), tol, what + " step " + i, t, u));
                if (i < steps) {
                    int fed = t;
                    t = cpu.step(fed);
                    u = device.step(fed);
                }
            }
            System.out.printf("%s: logits within %.1e of the largest over two prompts and %d steps%n", what, worst,
                    steps);
            assertFalse(device.lastReport().anyFallback(), device.lastReport().toString());
            for (String task : new String[] {"l0.kv_append", "l0.attention"}) {
                var r = device.lastReport().task(task);
                assertEquals(d.id(), r.device(), r.toString());
                assertEquals(dev.gale.core.device.ImplPath.DEVICE_KERNEL, r.path(), r.toString());
            }
        }
    }

    /**
     * Checks the device's logits against the CPU's (within {@code tol} of the largest) and its greedy choice {@code u}
     * against the CPU's {@code t} (equal, or a tie within the logits' difference); returns the relative difference.
     */
    private static double agree(float[] want, float[] got, double tol, String where, int t, int u) {
        double scale = 0;
        double diff = 0;
        for (int j = 0; j < want.length; j++) {
            scale = Math.max(scale, Math.abs(want[j]));
            diff = Math.max(diff, Math.abs(want[j] - got[j]));
        }
        assertTrue(diff <= tol * scale, where + ": logits differ by " + diff / scale + " of the largest (tolerance "
                + tol + ")");
        assertTrue(u == t || want[t] - want[u] <= diff, where + ": the device chose " + u + ", the CPU " + t
                + " by a margin of " + (want[t] - want[u]) + " > the logits' difference " + diff);
        return diff / scale;
    }

    /**
     * A prompt fed as one batched prefill continues exactly as the same prompt fed token by token through the decode
     * step, in F32 and with an F16 cache.
     */
    @Test
    void batchedPrefillContinuesLikeStepByStep() {
        try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
             BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator()) {
            Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
            int[] prompt = tok.encode("Once upon a time, there was a cat", true, false);
            for (dev.gale.kernels.attention.KvPrecision kvType : new dev.gale.kernels.attention.KvPrecision[] {
                dev.gale.kernels.attention.KvPrecision.F32, dev.gale.kernels.attention.KvPrecision.F16}) {
                LlamaSession.Options o = new LlamaSession.Options(Devices.cpu(), kvType, 128, 0f, 1f, 1, false,
                    KvPolicy.FULL);
                List<Integer> batched = new ArrayList<>();
                List<Integer> stepped = new ArrayList<>();
                try (LlamaSession a = new LlamaSession(w, alloc, "batched", o);
                     LlamaSession b = new LlamaSession(w, alloc, "stepped", o)) {
                    int t = a.prefill(prompt);
                    for (int i = 0; i < 20; i++) {
                        batched.add(t);
                        t = a.step(t);
                    }
                    int u = 0;
                    for (int p : prompt) {
                        u = b.step(p);
                    }
                    for (int i = 0; i < 20; i++) {
                        stepped.add(u);
                        u = b.step(u);
                    }
                    assertTrue(a.lastReport().toString().contains("cpu"), a.lastReport().toString());
                }
                assertEquals(stepped, batched, kvType + ": " + text(batched) + " vs " + text(stepped));
            }
        }
    }

    /**
     * Every cache that can start a sequence in one pass does, with attention over the prompt's own F32 keys: so the
     * first sampled token and its logits are those of the F32 dense cache, bit for bit, whatever the cache stores
     * (KIVI quantizes on append, the sink cache keeps keys un-rotated). Decoding then continues as after the same
     * prompt fed token by token (the greedy tokens agree for these caches), and the modes say what ran.
     */
    @Test
    void everyCacheStartsASequenceInOnePass() {
        try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
             BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator()) {
            Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
            int[] prompt = tok.encode("Once upon a time, there was a little dog named Max", true, false);
            float[] want;
            try (LlamaSession f32 = new LlamaSession(w, alloc, "f32", options(KvPrecision.F32, KvPolicy.FULL))) {
                f32.prefill(prompt);
                want = f32.logits();
            }
            Object[][] caches = {{KvPrecision.F16, KvPolicy.FULL}, {KvPrecision.INT8, KvPolicy.FULL},
                {KvPrecision.INT4, KvPolicy.FULL}, {KvPrecision.F32, KvPolicy.parse("sinks:4,window:60")}};
            for (Object[] c : caches) {
                LlamaSession.Options o = options((KvPrecision) c[0], (KvPolicy) c[1]);
                String what = c[0] + " " + c[1];
                List<Integer> batched = new ArrayList<>();
                List<Integer> stepped = new ArrayList<>();
                try (LlamaSession a = new LlamaSession(w, alloc, "batched", o);
                     LlamaSession b = new LlamaSession(w, alloc, "stepped", o)) {
                    int t = a.prefill(prompt);
                    assertEquals("batched: attention over the prompt", a.prefillMode(), what);
                    assertArrayEquals(want, a.logits(), what + ": logits of the first sampled token");
                    for (int i = 0; i < 16; i++) {
                        batched.add(t);
                        t = a.step(t);
                    }
                    int u = 0;
                    for (int p : prompt) {
                        u = b.step(p);
                    }
                    for (int i = 0; i < 16; i++) {
                        stepped.add(u);
                        u = b.step(u);
                    }
                    if (c[1] == KvPolicy.FULL && c[0] != KvPrecision.F16) {
                        a.prefill(new int[] {t, t});
                        assertTrue(a.prefillMode().startsWith("batched: the matrix products"), a.prefillMode());
                    }
                }
                assertEquals(stepped, batched, what + ": " + text(batched) + " vs " + text(stepped));
            }
        }
    }

    /**
     * Caches whose contents change as tokens enter (H2O evicting by counters, a sink ring overwriting slots, KIVI
     * quantizing) take prompts with the model's matrix products batched and their appends and attention in token
     * order inside: continuing a sequence (and for sinks, a first prompt that overflows the ring) gives the greedy
     * continuation of the same tokens fed one decode step at a time, and the prefill mode says how it ran.
     */
    @Test
    void promptsIntoChangingCachesRunInTokenOrderLikeStepByStep() {
        try (LlamaModel m = Llama2cCheckpoint.load(SharedFiles.require(SharedFiles.STORIES_BIN));
             BoundWeights w = new BoundWeights(m.config(), m.weights()); RootAllocator alloc = new RootAllocator()) {
            Tokenizer tok = Llama2cTokenizerFile.read(SharedFiles.require(SharedFiles.TOK512));
            int[] prompt = tok.encode("Once upon a time, there was a little dog named Max", true, false);
            int[] more = tok.encode(" He liked to run and jump", false, false);
            Object[][] caches = {{KvPrecision.F32, "h2o:heavy:16,recent:16"}, {KvPrecision.F32, "h2o:heavy:4,recent:4"},
                {KvPrecision.F32, "sinks:2,window:6"}, {KvPrecision.F16, "sinks:4,window:40"},
                {KvPrecision.INT4, "full"}, {KvPrecision.INT8, "full"}};
            for (Object[] c : caches) {
                KvPrecision kv = (KvPrecision) c[0];
                KvPolicy policy = KvPolicy.parse((String) c[1]);
                String what = kv + " " + policy;
                LlamaSession.Options o = options(kv, policy);
                List<Integer> batched = new ArrayList<>();
                List<Integer> stepped = new ArrayList<>();
                try (LlamaSession a = new LlamaSession(w, alloc, "batched", o);
                     LlamaSession b = new LlamaSession(w, alloc, "stepped", o)) {
                    if (kv.quantized()) {
                        // A KIVI sequence starts over the prompt's own F32 keys when batched; here both start alike.
                        for (int p : prompt) {
                            a.step(p);
                        }
                    } else {
                        a.prefill(prompt);
                        if (!policy.sinks() || prompt.length > policy.budget()) {
                            assertTrue(a.prefillMode().startsWith("batched: the matrix products"), what + ": "
                                    + a.prefillMode());
                        }
                    }
                    int t = a.prefill(more);
                    assertTrue(a.prefillMode().startsWith("batched: the matrix products"), what + ": "
                            + a.prefillMode());
                    String detail = a.lastReport().task("l0.attention").detail();
                    assertTrue(detail.contains("appended then attending in order"), what + ": " + detail);
                    for (int i = 0; i < 16; i++) {
                        batched.add(t);
                        t = a.step(t);
                    }
                    int u = 0;
                    for (int p : prompt) {
                        u = b.step(p);
                    }
                    for (int p : more) {
                        u = b.step(p);
                    }
                    for (int i = 0; i < 16; i++) {
                        stepped.add(u);
                        u = b.step(u);
                    }
                }
                assertEquals(stepped, batched, what + ": " + text(batched) + " vs " + text(stepped));
            }
        }
    }

    private static LlamaSession.Options options(KvPrecision kv, KvPolicy policy) {
        return new LlamaSession.Options(Devices.cpu(), kv, 128, 0f, 1f, 1, false, policy);
    }
}
