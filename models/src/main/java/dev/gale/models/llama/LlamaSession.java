package dev.gale.models.llama;

import dev.gale.core.UnsupportedTaskException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.device.ResidentMemory;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.RunReport;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import dev.gale.kernels.attention.DecodePlanner;
import dev.gale.kernels.attention.HeavyHitterKv;
import dev.gale.kernels.attention.KiviCache;
import dev.gale.kernels.attention.KiviLayout;
import dev.gale.kernels.attention.KvPrecision;
import dev.gale.kernels.attention.SinkWindowKv;
import dev.gale.kernels.sampling.Xorshift;
import dev.gale.kvcache.ArrowKvMemory;
import dev.gale.models.LlamaConfig;
import dev.gale.models.WeightTensor;
import dev.gale.kvcache.KvCacheFile;
import dev.gale.kvcache.KvCacheFileException;
import dev.gale.kvcache.KvCacheHeader;
import dev.gale.kvcache.KvRegion;
import dev.gale.kvcache.MappedKvCache;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.arrow.memory.BufferAllocator;

/**
 * One conversation with a model: its own KV cache (in Arrow memory), its position, its sampler and its compiled
 * plans. Sessions share the model's {@link BoundWeights}, so several can run side by side on one model, each from its
 * own thread.
 *
 * <p>The decode step is one plan compiled at construction and run once per token; prompts run as batched prefill plans
 * (compiled per prompt length and kept). Every run's {@link RunReport} says where each task ran and how.
 */
public final class LlamaSession implements AutoCloseable {
    /** What a session is asked to do: device, KV precision and capacity, sampling. */
    public record Options(Device device, KvPrecision kv, int capacity, float temperature, float topP, long seed,
            boolean allowFallback, KvPolicy policy) {
        /** KIVI's defaults (papers.md §5): groups of 32 tokens or channels, a residual window of 128 tokens. */
        static final int KIVI_GROUP = 32;
        static final int KIVI_RESIDUAL = 128;

        public Options {
            if (policy.sinks() && kv.quantized()) {
                throw new IllegalArgumentException("the sinks policy keeps an f32 or f16 cache, not " + kv);
            }
            if (policy.h2o() && kv != KvPrecision.F32) {
                throw new IllegalArgumentException("the h2o policy keeps an f32 cache, not " + kv);
            }
            if (capacity < 1) {
                throw new IllegalArgumentException("KV capacity must be >= 1, got " + capacity);
            }
            if (!(temperature >= 0) || !(topP > 0 && topP <= 1)) {
                throw new IllegalArgumentException("temperature must be >= 0 and top-p in (0, 1]");
            }
        }

        public static Options greedy(Device device, int capacity) {
            return new Options(device, KvPrecision.F32, capacity, 0f, 1f, 1, false, KvPolicy.FULL);
        }
    }

    private final BoundWeights weights;
    private final Options options;
    private final LlamaConfig config;
    private final ArrowKvMemory kv;
    private final List<Buffer> cacheK = new ArrayList<>();
    private final List<Buffer> cacheV = new ArrayList<>();
    private final List<Buffer> cacheLength = new ArrayList<>();
    private final Map<Integer, Step> steps = new HashMap<>();
    private final Xorshift rng;
    private final MappedKvCache resumed;
    /** Every region of a KIVI session's caches (fresh or resumed), in allocation order: what {@link #save} writes. */
    private final List<KvRegion> kiviRegions = new ArrayList<>();
    /** An evicting (sink or H2O) session's storage, fresh or resumed: what {@link #save} writes for it. */
    private final List<KvRegion> evictingRegions = new ArrayList<>();
    /** Per layer, the region {@link #save} writes each H2O cache's bookkeeping into. */
    private final List<Buffer> heavyState = new ArrayList<>();
    /** Per layer, the KIVI cache when the precision is quantized; null for dense caches. */
    private final List<KiviCache> kivi;
    /** Per layer, the sink/ring cache under the sinks policy; null otherwise. */
    private final List<SinkWindowKv> sinks;
    /** Per layer under the sinks policy: its K and V slot storage typed for the graph (views of the regions). */
    private final List<Buffer> sinkSlotsK = new ArrayList<>();
    private final List<Buffer> sinkSlotsV = new ArrayList<>();
    /** Per layer, the H2O cache under the h2o policy; null otherwise. */
    private final List<HeavyHitterKv> heavy;
    private int position;
    /** Why prompts continuing a sequence go token by token, or null: they run in one pass (dense caches). */
    private String continueRefusal;
    /** Why prompts starting a sequence go token by token, or null: they run in one pass (all but H2O). */
    private String freshRefusal;
    /** A prompt whose tokens must see the cache as each left it (evictions, quantization, counters). */
    private static final String IN_ORDER_PROMPT = "batched: the matrix products; the cache's appends and attention go "
            + "token by token inside them, as decode steps would";
    private final Map<Integer, Step> freshSteps = new HashMap<>();
    private String prefillNote = "no prompt yet";
    private RunReport lastReport;
    private Step lastStep;

    /** A compiled graph for T tokens with its bindings and activation buffers. */
    private final class Step implements AutoCloseable {
        final StepGraph g;
        final Plan plan;
        final Bindings bindings;
        final List<Buffer> owned = new ArrayList<>();

        Step(int tokens, boolean fresh) {
            g = new StepGraph(weights, tokens, fresh, options.capacity(), kvType(), kivi, sinks, heavy,
                    new StepGraph.Sampling(options.temperature(), options.topP()), DecodePlanner.Schedule.AUTO);
            TaskGraph.PlanOptions po = options.allowFallback() ? TaskGraph.PlanOptions.withFallback()
                    : TaskGraph.PlanOptions.DEFAULT;
            plan = g.graph.compile(options.device(), po);
            bindings = plan.newBindings();
            for (Map.Entry<WeightTensor, TensorParam> e : g.weightParams.entrySet()) {
                bindings.bind(e.getValue(), weights.get(e.getKey()).buffer());
            }
            for (int l = 0; l < g.cacheK.size(); l++) {
                bindings.bind(g.cacheK.get(l), cacheK.get(l)).bind(g.cacheV.get(l), cacheV.get(l))
                        .bind(g.lengths.get(l), cacheLength.get(l));
            }
            for (int l = 0; l < g.sinkK.size(); l++) {
                bindings.bind(g.sinkK.get(l), sinkSlotsK.get(l)).bind(g.sinkV.get(l), sinkSlotsV.get(l));
            }
            Buffer x = own(tokens, "x", DType.F32, (long) tokens * config.dim());
            bindings.bind(g.x, x).bind(g.lastX, x.slice((long) (tokens - 1) * config.dim(), config.dim()));
            bindings.bind(g.h, own(tokens, "h", DType.F32, (long) tokens * config.dim()));
            Buffer q = own(tokens, "q", DType.F32, (long) tokens * config.dim());
            bindings.bind(g.q2, q).bind(g.q3, q);
            Buffer k = own(tokens, "k", DType.F32, (long) tokens * config.kvDim());
            bindings.bind(g.k2, k).bind(g.k3, k);
            Buffer v = own(tokens, "v", DType.F32, (long) tokens * config.kvDim());
            bindings.bind(g.v2, v).bind(g.v3, v);
            Buffer att = own(tokens, "att", DType.F32, (long) tokens * config.dim());
            bindings.bind(g.att2, att).bind(g.att3, att);
            bindings.bind(g.o, own(tokens, "o", DType.F32, (long) tokens * config.dim()));
            bindings.bind(g.gate, own(tokens, "gate", DType.F32, (long) tokens * config.hiddenDim()));
            bindings.bind(g.up, own(tokens, "up", DType.F32, (long) tokens * config.hiddenDim()));
            bindings.bind(g.act, own(tokens, "act", DType.F32, (long) tokens * config.hiddenDim()));
            bindings.bind(g.lastH, own(tokens, "h.last", DType.F32, config.dim()));
            bindings.bind(g.logits, own(tokens, "logits", DType.F32, config.vocab()));
            bindings.bind(g.probs, own(tokens, "probs", DType.F32, config.vocab()));
            bindings.bind(g.ids, own(tokens, "ids", DType.I32, tokens));
            bindings.bind(g.next, own(tokens, "next", DType.I32, 1));
            if (g.seqs != null) {
                Buffer table = own(tokens, "prefill.seqs", DType.I32, 4);
                table.setInt(0, 0);
                table.setInt(1, tokens);
                table.setInt(2, 0);
                table.setInt(3, tokens);
                bindings.bind(g.seqs, table);
            }
        }

        private Buffer own(int tokens, String name, DType dt, long n) {
            Buffer b = Buffers.allocate(name + "[" + tokens + "]", dt, n);
            owned.add(b);
            return b;
        }

        int run(int[] ids, int start) {
            Buffer idBuf = bindings.buffer(g.ids);
            for (int i = 0; i < ids.length; i++) {
                idBuf.setInt(i, ids[i]);
            }
            bindings.set(g.pos, start);
            bindings.set(g.coin, options.temperature() == 0 ? 0f : rng.nextCoin());
            lastReport = plan.run(bindings);
            lastStep = this;
            int next = bindings.buffer(g.next).getInt(0);
            if (next < 0 || next >= config.vocab()) {
                throw new IllegalStateException("the sampler returned token " + next + " at position " + start
                        + ": the logits were not finite (see the run report)\n" + lastReport);
            }
            return next;
        }

        @Override
        public void close() {
            bindings.close();
            owned.forEach(Buffer::close);
        }
    }

    public LlamaSession(BoundWeights weights, BufferAllocator allocator, String name, Options options) {
        this(weights, allocator, name, options, null);
    }

    private LlamaSession(BoundWeights weights, BufferAllocator allocator, String name, Options options,
            MappedKvCache resumed) {
        this.weights = weights;
        this.options = options;
        this.config = weights.config();
        this.resumed = resumed;
        String saved = resumed == null ? null : resumed.header().attributes().get("rng.state");
        this.rng = new Xorshift(saved != null ? Long.parseLong(saved) : options.seed() == 0 ? 1 : options.seed());
        long perLayer = (long) config.kvHeads() * options.capacity() * config.headDim();
        // The parent allocator carries the limit; Arrow rounds each buffer up to a power of two, so a tight
        // per-session limit would refuse caches that fit.
        this.kv = new ArrowKvMemory(allocator, name, Long.MAX_VALUE);
        this.kivi = options.kv().quantized() ? new ArrayList<>() : null;
        KiviLayout layout = kivi == null ? null : kiviLayout(options.kv(), config.headDim());
        if (options.policy().sinks()) {
            KvPolicy p = options.policy();
            long slotBytes = kvType().byteSize((long) config.kvHeads() * (p.sinkCount() + p.window())
                    * config.headDim());
            this.sinks = new ArrayList<>();
            for (int l = 0; l < config.layers(); l++) {
                long slots = (long) config.kvHeads() * (p.sinkCount() + p.window()) * config.headDim();
                Buffer k = evictingRegion("l" + l + ".k", slotBytes).viewAs("l" + l + ".sink.k", kvType(), 0, slots);
                Buffer v = evictingRegion("l" + l + ".v", slotBytes).viewAs("l" + l + ".sink.v", kvType(), 0, slots);
                sinkSlotsK.add(k);
                sinkSlotsV.add(v);
                SinkWindowKv cache = new SinkWindowKv(1, config.kvHeads(), config.headDim(), p.sinkCount(),
                        p.window(), kvType(), k.segment(), v.segment(), Rope.table(config, p.sinkCount() + p.window()));
                if (resumed != null) {
                    // Keys are cached un-rotated, so the slots and the token count are the whole state.
                    cache.window(0).restore(resumed.header().tokens());
                }
                sinks.add(cache);
            }
        } else {
            this.sinks = null;
        }
        if (options.policy().h2o()) {
            KvPolicy p = options.policy();
            long bytes = 4L * config.kvHeads() * p.budget() * config.headDim();
            this.heavy = new ArrayList<>();
            for (int l = 0; l < config.layers(); l++) {
                HeavyHitterKv cache = new HeavyHitterKv(config.kvHeads(), config.headDim(), p.first(), p.second(),
                        evictingRegion("l" + l + ".k", bytes).segment(),
                        evictingRegion("l" + l + ".v", bytes).segment());
                // Which slots hold which positions and their accumulated attention: a region of its own.
                Buffer state = evictingRegion("l" + l + ".h2o", cache.stateBytes());
                if (resumed != null) {
                    cache.restoreState(state.segment());
                }
                heavyState.add(state);
                heavy.add(cache);
            }
        } else {
            this.heavy = null;
        }
        for (int l = 0; l < config.layers() && sinks == null && heavy == null; l++) {
            if (kivi != null) {
                int layer = l;
                kivi.add(new KiviCache(layout, 1,
                        config.kvHeads(), config.headDim(), options.capacity(), KvPrecision.F16,
                        (n, dt, count) -> kiviRegion("l" + layer + "." + n, dt, count)));
            } else if (resumed == null) {
                cacheK.add(kv.allocate("l" + l + ".k", kvType(), perLayer));
                cacheV.add(kv.allocate("l" + l + ".v", kvType(), perLayer));
                cacheLength.add(kv.allocate("l" + l + ".length", DType.I32, 1));
            } else {
                cacheK.add(resumed.region("l" + l + ".k"));
                cacheV.add(resumed.region("l" + l + ".v"));
                cacheLength.add(resumed.region("l" + l + ".length"));
            }
        }
        if (resumed != null) {
            position = (int) resumed.header().tokens();
            if (kivi != null) {
                // A KIVI cache's only state outside its regions is its length; the residual ring is addressed by it.
                for (KiviCache c : kivi) {
                    c.setLength(0, position);
                }
            }
        }
        steps.put(1, new Step(1, false));
        continueRefusal = null;
        freshRefusal = null;
    }

    /** The logits of the last token of the last run (a copy). */
    public float[] logits() {
        Step s = lastStep;
        if (s == null) {
            throw new IllegalStateException("no run yet");
        }
        return s.bindings.toHost(s.g.logits).toFloatArray();
    }

    /** Tokens in the cache: the position of the next token. */
    public int position() {
        return position;
    }

    public RunReport lastReport() {
        return lastReport;
    }

    /**
     * The op kind of a step task: its name without the layer prefix ({@code l12.wq} → {@code wq}), so a step's time
     * can be summed per kind over the layers.
     */
    public static String taskKind(String task) {
        int dot = task.indexOf('.');
        return dot > 1 && task.charAt(0) == 'l' && Character.isDigit(task.charAt(1)) ? task.substring(dot + 1) : task;
    }

    /**
     * The last run's task times summed per {@linkplain #taskKind kind}, largest first, as {@code kind ms} pairs, with
     * the run's wall time: where a step's time went, on whichever device ran it.
     */
    public String describeLastStepByKind(int kinds) {
        if (lastReport == null) {
            return "";
        }
        Map<String, Long> byKind = new HashMap<>();
        for (RunReport.TaskReport t : lastReport.tasks()) {
            byKind.merge(taskKind(t.task()), t.nanos(), Long::sum);
        }
        return byKind.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .limit(kinds).map(e -> String.format(Locale.ROOT, "%s %.2f", e.getKey(), e.getValue() / 1e6))
                .collect(Collectors.joining(", ", "", String.format(Locale.ROOT, " ms (step %.2f ms)",
                        lastReport.totalNanos() / 1e6)));
    }

    /** The decode step's plan, as compiled (device and implementation of every task). */
    public String describeDecodePlan() {
        return steps.get(1).plan.describe();
    }

    /** Bytes of KV cache this session holds (all layers, K and V, at full capacity). */
    public long kvBytes() {
        return kv.allocatedBytes();
    }

    /**
     * Feeds {@code tokens} at the current position in one batched pass and returns the model's next token (sampled
     * with the session's settings).
     */
    public int prefill(int[] tokens) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("prefill needs at least one token");
        }
        requireRoom(tokens.length);
        Step s = null;
        if (tokens.length == 1) {
            prefillNote = "one token: the decode step";
        } else if (position == 0) {
            s = freshStep(tokens.length);
        } else {
            s = prefillStep(tokens.length);
        }
        if (s == null) {
            // Every task still runs on the session's device: the decode step, one token at a time.
            int next = 0;
            for (int t : tokens) {
                next = step(t);
            }
            return next;
        }
        int next = s.run(tokens, position);
        position += tokens.length;
        return next;
    }

    /**
     * Forgets every cached token: the next token goes to position 0. The cache memory is kept (each append
     * overwrites its slots and republishes the length), so the compiled plans are reused.
     */
    public void reset() {
        if (sinks != null || heavy != null) {
            throw new UnsupportedOperationException("a sink/window cache cannot be rewound; open a new session");
        }
        position = 0;
    }

    /** The plan continuing a dense cache with {@code n} tokens, or null (remembered) when the device cannot run one. */
    private Step prefillStep(int n) {
        if (continueRefusal != null) {
            prefillNote = "token by token: " + continueRefusal;
            return null;
        }
        Step s = steps.get(n);
        if (s == null) {
            try {
                s = new Step(n, false);
            } catch (UnsupportedTaskException e) {
                continueRefusal = e.getMessage();
                prefillNote = "token by token: " + continueRefusal;
                return null;
            }
            steps.put(n, s);
        }
        prefillNote = heavy != null || sinks != null || kivi != null ? IN_ORDER_PROMPT
                : "batched: attention over the cache";
        return s;
    }

    /**
     * The plan starting a sequence with {@code n} tokens (attention over the prompt's own keys), or null when this
     * cache has none (H2O; a sink cache the prompt would overflow) or the device cannot run one (remembered).
     */
    private Step freshStep(int n) {
        if (freshRefusal != null) {
            prefillNote = "token by token: " + freshRefusal;
            return null;
        }
        if (sinks != null && n > options.policy().sinkCount() + options.policy().window()) {
            // The ring wraps inside the prompt: its tokens enter and attend in order, as when continuing.
            return prefillStep(n);
        }
        Step s = freshSteps.get(n);
        if (s == null) {
            try {
                s = new Step(n, true);
            } catch (UnsupportedTaskException e) {
                freshRefusal = e.getMessage();
                prefillNote = "token by token: " + freshRefusal;
                return null;
            }
            freshSteps.put(n, s);
        }
        prefillNote = heavy != null ? IN_ORDER_PROMPT : "batched: attention over the prompt";
        return s;
    }

    /**
     * How the last prompt was fed: {@code batched: …} (over the prompt itself when it started the sequence, over the
     * cache when it continued one), or {@code token by token: } and why.
     */
    public String prefillMode() {
        return prefillNote;
    }

    /** Feeds one token and returns the next. */
    public int step(int token) {
        requireRoom(1);
        int next = steps.get(1).run(new int[] {token}, position);
        position += 1;
        return next;
    }

    private void requireRoom(int n) {
        // A sink/window cache evicts instead of filling up: positions past the capacity are its point.
        if (sinks == null && heavy == null && position + n > options.capacity()) {
            throw new IllegalStateException("the KV cache holds " + options.capacity() + " tokens; " + position
                    + " are used and " + n + " more do not fit");
        }
    }

    /**
     * Saves this session's cache (its tokens, precision and the model's identity) to an Arrow IPC file, atomically.
     * {@code attributes} travel with it (for example the last sampled token, to continue from).
     */
    public void save(Path file, String modelId, Map<String, String> attributes) {
        for (int l = 0; heavy != null && l < heavy.size(); l++) {
            heavy.get(l).saveState(heavyState.get(l).segment());
        }
        Map<String, String> attrs = new HashMap<>(attributes);
        attrs.put("capacity", Integer.toString(options.capacity()));
        attrs.put("layers", Integer.toString(config.layers()));
        attrs.put("kv.shape", config.kvHeads() + "x" + config.headDim());
        attrs.put("rng.state", Long.toString(rng.state()));
        List<KvRegion> regions = new ArrayList<>(kiviRegions);
        regions.addAll(evictingRegions);
        if (kivi != null) {
            attrs.put("kivi.layout", kiviLayout(options.kv(), config.headDim()).toString());
        }
        ResidentMemory onDevice = options.device().residentMemory();
        for (int l = 0; l < config.layers() && kivi == null && sinks == null && heavy == null; l++) {
            if (onDevice != null) {
                // A dense cache lives in device memory between steps (StepGraph): what the GPU appended comes home.
                onDevice.toHost(cacheK.get(l));
                onDevice.toHost(cacheV.get(l));
            }
            regions.add(new KvRegion("l" + l + ".k", cacheK.get(l)));
            regions.add(new KvRegion("l" + l + ".v", cacheV.get(l)));
            regions.add(new KvRegion("l" + l + ".length", cacheLength.get(l)));
        }
        KvCacheFile.write(file, new KvCacheHeader(modelId, precision(options.kv()), options.policy().toString(),
                position, attrs), regions);
    }

    /**
     * A session continuing from a saved cache, mapped copy-on-write (no copy; the file is never changed). The file
     * must come from the same model (by identity), precision and cache shape.
     */
    public static LlamaSession resume(BoundWeights weights, BufferAllocator allocator, String name, Options options,
            Path file, String modelId) {
        return resume(weights, allocator, name, options, KvCacheFile.open(file, modelId, precision(options.kv())));
    }

    /**
     * {@link #resume(BoundWeights, BufferAllocator, String, Options, Path, String)} over a cache already opened (and
     * checked) by {@link KvCacheFile#open}, for a caller that read its header first (the CLI takes the capacity from
     * it): the file is mapped and checksummed once. The session owns {@code m} from here on, closed on failure too.
     */
    public static LlamaSession resume(BoundWeights weights, BufferAllocator allocator, String name, Options options,
            MappedKvCache m) {
        Path file = m.file();
        try {
            if (!m.header().precision().equals(precision(options.kv()))) {
                throw new KvCacheFileException(file, "gale.kv.precision", -1, "holds " + m.header().precision()
                        + " KV, this session asks for " + precision(options.kv()));
            }
            LlamaConfig c = weights.config();
            Map<String, String> a = m.header().attributes();
            if (!m.header().policy().equals(options.policy().toString())) {
                throw new KvCacheFileException(file, "gale.kv.policy", -1, "the cache was saved with policy "
                        + m.header().policy() + ", this session asks for " + options.policy());
            }
            String want = options.capacity() + "/" + c.layers() + "/" + c.kvHeads() + "x" + c.headDim();
            String got = a.get("capacity") + "/" + a.get("layers") + "/" + a.get("kv.shape");
            if (!want.equals(got)) {
                throw new KvCacheFileException(file, "gale.kv.attr.capacity/layers/kv.shape", -1, "cache shape "
                        + got + " does not match this session's " + want);
            }
            if (options.kv().quantized()) {
                String layout = kiviLayout(options.kv(), c.headDim()).toString();
                String saved = a.get("kivi.layout");
                if (!layout.equals(saved)) {
                    throw new KvCacheFileException(file, "gale.kv.attr.kivi.layout", -1, "KIVI layout " + saved
                            + " does not match this session's " + layout);
                }
            }
            return new LlamaSession(weights, allocator, name, options, m);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * Storage of an evicting cache (sink slots, H2O slots and bookkeeping), as bytes: fresh Arrow memory, or the
     * resumed file's region of that name and size.
     */
    private Buffer evictingRegion(String name, long bytes) {
        Buffer b = resumed == null ? kv.allocate(name, DType.U8, bytes) : resumed.region(name);
        if (resumed != null && (b.dtype() != DType.U8 || b.length() != bytes)) {
            throw new KvCacheFileException(resumed.file(), "region " + name, -1, "holds " + b.length() + " "
                    + b.dtype() + ", this session's " + options.policy() + " cache needs " + bytes + " U8");
        }
        evictingRegions.add(new KvRegion(name, b));
        return b;
    }

    /**
     * Memory for a KIVI cache's region: fresh Arrow memory, or the resumed file's region of that name, which must
     * have the dtype and size this session's layout asks for.
     */
    private Buffer kiviRegion(String name, DType dtype, long count) {
        Buffer b;
        if (resumed == null) {
            b = kv.allocate(name, dtype, count);
        } else {
            b = resumed.region(name);
            if (b.dtype() != dtype || b.length() != count) {
                throw new KvCacheFileException(resumed.file(), "region " + name, -1, "holds " + b.length() + " "
                        + b.dtype() + ", this session's KIVI layout needs " + count + " " + dtype);
            }
        }
        kiviRegions.add(new KvRegion(name, b));
        return b;
    }

    /** The attributes saved with a resumed cache (empty for a fresh session). */
    public Map<String, String> savedAttributes() {
        return resumed == null ? Map.of() : resumed.header().attributes();
    }

    /**
     * KIVI with groups of 32, or of the head dim when heads are narrower (values are grouped over channels), as long
     * as a group fills whole 32-bit words of codes.
     */
    static KiviLayout kiviLayout(KvPrecision kv, int headDim) {
        int g = Math.min(Options.KIVI_GROUP, headDim);
        try {
            return KiviLayout.of(kv, g, Options.KIVI_RESIDUAL);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(kv + " KV needs groups of whole 32-bit words of codes within a head; "
                    + "this model's head dim " + headDim + " allows no such group (" + e.getMessage() + ")", e);
        }
    }

    private static String precision(KvPrecision kv) {
        return kv.name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The dense cache's element type (F32 also stands for "no dense cache" with KIVI). */
    private DType kvType() {
        return options.kv() == KvPrecision.F16 ? DType.F16 : DType.F32;
    }

    @Override
    public void close() {
        steps.values().forEach(Step::close);
        freshSteps.values().forEach(Step::close);
        if (kivi != null && resumed == null) {
            kivi.forEach(KiviCache::close);
        }
        kv.close();
        if (resumed != null) {
            resumed.close();
        }
    }
}
