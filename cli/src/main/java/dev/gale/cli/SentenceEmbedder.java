package dev.gale.cli;

import dev.gale.models.bert.InvalidTextException;
import dev.gale.models.bert.SentenceEncoder;
import dev.gale.models.bert.WordPieceTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Embeds any number of sentences in padded batches of at most {@link #BATCH}. Sentences are grouped by token count
 * first, so a batch pads its sentences to a similar length instead of to the longest of the whole input; the results
 * come back in input order.
 */
final class SentenceEmbedder {
    static final int BATCH = 32;

    /** One row per input sentence: its embedding, its token count ([CLS] and [SEP] included) and tokens cut. */
    record Result(float[][] embeddings, int[] tokens, int[] dropped) {
        int truncatedCount() {
            return (int) Arrays.stream(dropped).filter(d -> d > 0).count();
        }
    }

    private SentenceEmbedder() {
    }

    static Result embed(SentenceEncoder encoder, WordPieceTokenizer tokenizer, List<String> sentences) {
        if (sentences.isEmpty()) {
            throw new InvalidTextException("no sentences to embed");
        }
        int n = sentences.size();
        int[] tokens = new int[n];
        int[] dropped = new int[n];
        for (int i = 0; i < n; i++) {
            WordPieceTokenizer.Encoding e;
            try {
                e = tokenizer.encode(sentences.get(i));
            } catch (InvalidTextException ex) {
                throw new InvalidTextException("sentence " + (i + 1) + ": " + ex.getMessage());
            }
            tokens[i] = e.ids().length;
            dropped[i] = e.droppedTokens();
        }
        Integer[] order = new Integer[n];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, Comparator.comparingInt(i -> tokens[i]));
        float[][] out = new float[n][];
        for (int s = 0; s < n; s += BATCH) {
            List<String> chunk = new ArrayList<>();
            for (int j = s; j < Math.min(n, s + BATCH); j++) {
                chunk.add(sentences.get(order[j]));
            }
            float[][] e = encoder.embed(tokenizer.encodeBatch(chunk));
            for (int j = 0; j < e.length; j++) {
                out[order[s + j]] = e[j];
            }
        }
        return new Result(out, tokens, dropped);
    }

    static double cosine(float[] a, float[] b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }
}
