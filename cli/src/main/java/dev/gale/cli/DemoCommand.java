package dev.gale.cli;

import dev.gale.core.GaleException;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import dev.gale.core.device.Devices;
import dev.gale.models.bert.BertEncoder;
import dev.gale.models.bert.MiniLmFiles;
import dev.gale.models.bert.SentenceEncoder;
import dev.gale.models.bert.WordPieceTokenizer;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Set;

/**
 * {@code gale demo}: all-MiniLM-L6-v2 on Gale, end to end. Lists the devices, embeds a built-in set of sentences with
 * the fp32 and the int8 model on every device that has an encoder path, and prints what the embeddings are for: a
 * cosine similarity table, a nearest-neighbour search over a small corpus, sentences/s per device and model, and how
 * closely the int8 model agrees with the fp32 one.
 *
 * <p>The CPU runs the direct Vector API encoder; each OpenCL device runs the encoder's task graph as its kernels
 * ({@link dev.gale.models.bert.BertGraphEncoder}), and the demo says which implementation ran on each device and
 * checks that every device's embeddings agree with the CPU's: fp32 within models-bert's bound against ONNX Runtime
 * (cosine 0.99999 per sentence); int8 closer to the CPU's int8 than the int8 model is to fp32 (see {@link #agreement}).
 * Speeds are the median of {@code --repeat} timed passes over the sentence set after one
 * warm-up pass, tokenization included.
 */
final class DemoCommand implements Gale.Command {
    private static final String USAGE = "usage: gale demo [--repeat N]";

    static final List<String> SENTENCES = List.of(
            "The cat sits on the mat.",
            "A kitten is resting on a rug.",
            "Dogs love to chase balls in the park.",
            "A puppy runs after a ball on the grass.",
            "The stock market fell sharply today.",
            "Shares dropped as investors sold off.",
            "How do I bake sourdough bread?",
            "A recipe for a crusty loaf with natural yeast.",
            "The GPU computes matrix products in parallel.",
            "Graphics cards multiply matrices very quickly.",
            "It is raining heavily in Paris.",
            "Il pleut beaucoup à Paris.");

    static final List<String> CORPUS = List.of(
            "The Eiffel Tower is in Paris.",
            "Mount Everest is the highest mountain on Earth.",
            "Python is a popular programming language.",
            "Java runs on the JVM and has a Vector API.",
            "Transformers use attention to mix information between tokens.",
            "The recipe needs flour, water, salt and a sourdough starter.",
            "Regular exercise improves heart health.",
            "The central bank raised interest rates by a quarter point.",
            "Solar panels convert sunlight into electricity.",
            "The violin is a string instrument played with a bow.",
            "Whales are mammals that live in the ocean.",
            "The train to Berlin leaves at nine in the morning.",
            "Antibiotics do not work against viruses.",
            "A goalkeeper stops shots at the football goal.",
            "Photosynthesis turns carbon dioxide and water into sugar.",
            "The Great Wall of China is thousands of kilometres long.",
            "Quantization stores weights with fewer bits to save memory.",
            "Coffee contains caffeine, a stimulant.",
            "The Moon orbits the Earth about once a month.",
            "Chess is a board game for two players.");

    static final List<String> QUERIES = List.of(
            "How can I make bread at home?",
            "Which landmark is in France's capital?",
            "How do neural networks attend to words?");

    @Override
    public String summary() {
        return "all-MiniLM-L6-v2 sentence embeddings on each device: similarities, search, speed";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        int repeat;
        try {
            repeat = CliArgs.parse("demo", args, Set.of("repeat")).integer("repeat", 5, 1);
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage());
            out.println(USAGE);
            return 2;
        }
        try {
            run(out, repeat);
            return 0;
        } catch (GaleException e) {
            out.println("gale demo: " + e.getMessage());
            return 1;
        }
    }

    /** fp32 "agree": models-bert's per-sentence bound against ONNX Runtime. */
    static final double AGREE_FP32 = 0.99999;

    private static void run(PrintStream out, int repeat) {
        out.println("== devices");
        List<Device> runnable = new ArrayList<>();
        for (DeviceProvider p : Devices.providers()) {
            if (p.unavailableReason() != null) {
                out.printf("  backend %-7s unavailable: %s%n", p.backend(), p.unavailableReason());
                continue;
            }
            for (Device d : p.devices()) {
                boolean cpu = d.id().equals("cpu");
                out.printf("  %-10s %-40s %s%n", d.id(), d.name(), cpu ? "encoder: Vector API kernels"
                        : "encoder: task graph as " + d.backend() + " kernels");
                runnable.add(d);
            }
        }
        WordPieceTokenizer tok = MiniLmFiles.tokenizer();
        out.println();
        out.println("== speed (" + SENTENCES.size() + " sentences per pass, one padded batch, tokenization included; "
                + "median of " + repeat + " passes after a warm-up)");
        Map<String, float[][]> fp32 = new LinkedHashMap<>();
        Map<String, float[][]> int8 = new LinkedHashMap<>();
        List<String> ranOn = new ArrayList<>();
        for (Device d : runnable) {
            for (MiniLmFiles.Variant v : MiniLmFiles.Variant.values()) {
                long t0 = System.nanoTime();
                SentenceEncoder enc = MiniLmFiles.encoder(v, d);
                double loadS = (System.nanoTime() - t0) / 1e9;
                float[][] e = enc.embed(tok.encodeBatch(SENTENCES));
                long[] ns = new long[repeat];
                for (int i = 0; i < repeat; i++) {
                    long s = System.nanoTime();
                    enc.embed(tok.encodeBatch(SENTENCES));
                    ns[i] = System.nanoTime() - s;
                }
                Arrays.sort(ns);
                String name = v == MiniLmFiles.Variant.FP32 ? "fp32" : "int8";
                out.printf(Locale.ROOT, "  %-9s %-4s %8.1f sentences/s   (model load %.1f s)%n", d.id(), name,
                        SENTENCES.size() * 1e9 / ns[repeat / 2], loadS);
                ranOn.add(name + " on " + enc.ranOn());
                (v == MiniLmFiles.Variant.FP32 ? fp32 : int8).put(d.id(), e);
            }
        }
        out.println("  what ran:");
        ranOn.forEach(r -> out.println("    " + r));
        if (!fp32.containsKey("cpu")) {
            out.println("  the cpu device is missing: nothing to compare against");
            return;
        }
        out.println();
        similarityTable(out, fp32.get("cpu"));
        out.println();
        search(out, MiniLmFiles.encoder(MiniLmFiles.Variant.FP32), tok);
        out.println();
        agreement(out, fp32, int8);
    }

    private static void similarityTable(PrintStream out, float[][] e) {
        out.println("== cosine similarity (fp32, cpu)");
        for (int i = 0; i < SENTENCES.size(); i++) {
            out.printf("  %2d  %s%n", i + 1, SENTENCES.get(i));
        }
        StringBuilder head = new StringBuilder("      ");
        for (int j = 0; j < e.length; j++) {
            head.append(String.format(Locale.ROOT, "%6d", j + 1));
        }
        out.println(head);
        for (int i = 0; i < e.length; i++) {
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "  %2d  ", i + 1));
            for (int j = 0; j < e.length; j++) {
                row.append(String.format(Locale.ROOT, "%6.2f", SentenceEmbedder.cosine(e[i], e[j])));
            }
            out.println(row);
        }
    }

    private static void search(PrintStream out, BertEncoder enc, WordPieceTokenizer tok) {
        out.println("== nearest neighbours in a " + CORPUS.size() + "-sentence corpus (fp32, cpu, cosine)");
        float[][] corpus = SentenceEmbedder.embed(enc, tok, CORPUS).embeddings();
        float[][] queries = SentenceEmbedder.embed(enc, tok, QUERIES).embeddings();
        for (int q = 0; q < QUERIES.size(); q++) {
            float[] qe = queries[q];
            Integer[] idx = new Integer[CORPUS.size()];
            Arrays.setAll(idx, i -> i);
            Arrays.sort(idx, Comparator.comparingDouble(i -> -SentenceEmbedder.cosine(qe, corpus[i])));
            out.println("  query: " + QUERIES.get(q));
            for (int k = 0; k < 3; k++) {
                out.printf(Locale.ROOT, "    %d. %.3f  %s%n", k + 1, SentenceEmbedder.cosine(qe, corpus[idx[k]]),
                        CORPUS.get(idx[k]));
            }
        }
    }

    /**
     * fp32 devices agree when every sentence's cosine to the CPU's is at least {@link #AGREE_FP32}. int8 results are
     * not held to a fixed bound: the int8 graph requantizes every layer's input dynamically, and a last-bit difference
     * in the fp32 steps before a quantizer (a reduction order, a 1-ulp scale) can move an element to the neighbouring
     * uint8 level, which the following layers carry into the embedding (measured: 0.996 for one sentence in twelve,
     * against ONNX Runtime as well as across devices). They agree when every sentence is closer to the CPU's int8
     * embedding than the int8 model's embeddings are to the fp32 model's: device differences below the quantization
     * error itself.
     */
    private static void agreement(PrintStream out, Map<String, float[][]> fp32, Map<String, float[][]> int8) {
        double[] q = minMean(fp32.get("cpu"), int8.get("cpu"));
        out.printf(Locale.ROOT, "== agreement: fp32 vs int8 embeddings on cpu, cosine min %.5f, mean %.5f over %d "
                + "sentences%n", q[0], q[1], SENTENCES.size());
        if (fp32.size() == 1) {
            out.println("   devices: only cpu runs the encoder here, nothing to compare across devices");
            return;
        }
        boolean all = true;
        for (String id : fp32.keySet()) {
            if (id.equals("cpu")) {
                continue;
            }
            double f = minMean(fp32.get("cpu"), fp32.get(id))[0];
            double i = minMean(int8.get("cpu"), int8.get(id))[0];
            boolean ok = f >= AGREE_FP32 && i >= q[0];
            all &= ok;
            out.printf(Locale.ROOT, "   devices: %s vs cpu: fp32 cosine min %.7f (bound %s), int8 cosine min %.5f "
                    + "(bound: int8 vs fp32, %.5f): %s%n", id, f, AGREE_FP32, i, q[0], ok ? "agree" : "DISAGREE");
        }
        out.println(all ? "   all devices agree" : "   DEVICES DISAGREE");
    }

    /** Per-sentence cosine between two embedding sets: {min, mean}. */
    private static double[] minMean(float[][] a, float[][] b) {
        double min = 1;
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            double c = SentenceEmbedder.cosine(a[i], b[i]);
            min = Math.min(min, c);
            sum += c;
        }
        return new double[] {min, sum / a.length};
    }
}
