package dev.gale.cli;

import dev.gale.core.GaleException;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceProvider;
import dev.gale.core.device.Devices;
import dev.gale.models.bert.BertEncoder;
import dev.gale.models.bert.MiniLmFiles;
import dev.gale.models.bert.WordPieceTokenizer;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code gale demo}: all-MiniLM-L6-v2 on Gale, end to end. Lists the devices, embeds a built-in set of sentences with
 * the fp32 and the int8 model on every device that has an encoder path, and prints what the embeddings are for: a
 * cosine similarity table, a nearest-neighbour search over a small corpus, sentences/s per device and model, and how
 * closely the int8 model agrees with the fp32 one.
 *
 * <p>Only the CPU (Gale's Vector API kernels) runs the encoder today; OpenCL devices are listed and skipped with that
 * said, rather than reported as agreeing. Speeds are the median of {@code --repeat} timed passes over the sentence
 * set after one warm-up pass, tokenization included.
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

    private static void run(PrintStream out, int repeat) {
        out.println("== devices");
        List<Device> runnable = new ArrayList<>();
        for (DeviceProvider p : Devices.providers()) {
            if (p.unavailableReason() != null) {
                out.printf("  backend %-7s unavailable: %s%n", p.backend(), p.unavailableReason());
                continue;
            }
            for (Device d : p.devices()) {
                boolean cpu = d.backend().equals("cpu");
                out.printf("  %-10s %-40s %s%n", d.id(), d.name(), cpu ? "encoder: Vector API kernels"
                        : "encoder: none on " + d.backend() + " yet (the encoder runs on the CPU only): skipped");
                if (cpu) {
                    runnable.add(d);
                }
            }
        }
        WordPieceTokenizer tok = MiniLmFiles.tokenizer();
        out.println();
        out.println("== speed (" + SENTENCES.size() + " sentences per pass, one padded batch, tokenization included; "
                + "median of " + repeat + " passes after a warm-up)");
        float[][] fp32 = null;
        float[][] int8 = null;
        for (Device d : runnable) {
            for (MiniLmFiles.Variant v : MiniLmFiles.Variant.values()) {
                long t0 = System.nanoTime();
                BertEncoder enc = MiniLmFiles.encoder(v);
                double loadS = (System.nanoTime() - t0) / 1e9;
                float[][] e = BertEncoder.embed(enc, tok, SENTENCES);
                long[] ns = new long[repeat];
                for (int i = 0; i < repeat; i++) {
                    long s = System.nanoTime();
                    BertEncoder.embed(enc, tok, SENTENCES);
                    ns[i] = System.nanoTime() - s;
                }
                Arrays.sort(ns);
                out.printf(Locale.ROOT, "  %-6s %-4s %8.1f sentences/s   (model load %.1f s)%n", d.id(),
                        v == MiniLmFiles.Variant.FP32 ? "fp32" : "int8", SENTENCES.size() * 1e9 / ns[repeat / 2],
                        loadS);
                if (v == MiniLmFiles.Variant.FP32) {
                    fp32 = e;
                } else {
                    int8 = e;
                }
            }
        }
        if (fp32 == null) {
            out.println("  no device can run the encoder");
            return;
        }
        out.println();
        similarityTable(out, fp32);
        out.println();
        search(out, MiniLmFiles.encoder(MiniLmFiles.Variant.FP32), tok);
        out.println();
        agreement(out, fp32, int8, runnable);
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

    private static void agreement(PrintStream out, float[][] fp32, float[][] int8, List<Device> runnable) {
        double min = 1;
        double sum = 0;
        for (int i = 0; i < fp32.length; i++) {
            double c = SentenceEmbedder.cosine(fp32[i], int8[i]);
            min = Math.min(min, c);
            sum += c;
        }
        out.printf(Locale.ROOT, "== agreement: fp32 vs int8 embeddings on cpu, cosine min %.5f, mean %.5f over %d "
                + "sentences%n", min, sum / fp32.length, fp32.length);
        out.println("   devices: only " + runnable.getFirst().id() + " runs the encoder, so there is no cross-device "
                + "comparison yet (models-bert's tests check the CPU encoder against ONNX Runtime: cosine >= 0.99999 "
                + "fp32, >= 0.999 int8)");
    }
}
