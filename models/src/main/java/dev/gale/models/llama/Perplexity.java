package dev.gale.models.llama;

import dev.gale.models.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.function.IntConsumer;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Perplexity of a model on a text: the text's first {@code tokens} tokens are cut into windows of {@code window}
 * tokens, each fed after BOS through the decode step, and every window token is scored by the log-softmax of the
 * logits before it (in double). {@code exp(mean negative log-likelihood)} over all scored tokens.
 */
public final class Perplexity {
    public record Result(double perplexity, double meanNll, int tokens, int windows) {
    }

    private Perplexity() {
    }

    /** The first {@code n} tokens of {@code text} (no BOS), encoded paragraph by paragraph (the merge is quadratic). */
    public static int[] firstTokens(Tokenizer tok, String text, int n) {
        int[] out = new int[n];
        int have = 0;
        for (String para : text.split("\\n\\s*\\n")) {
            String p = para.strip().replaceAll("\\s+", " ");
            if (p.isEmpty()) {
                continue;
            }
            int[] ids = tok.encode(p + "\n", false, false);
            int take = Math.min(ids.length, n - have);
            System.arraycopy(ids, 0, out, have, take);
            have += take;
            if (have == n) {
                return out;
            }
        }
        throw new IllegalArgumentException("the text has only " + have + " tokens; " + n + " are needed");
    }

    public static Result evaluate(BoundWeights w, BufferAllocator alloc, LlamaSession.Options options, Tokenizer tok,
            int[] tokens, int window, IntConsumer progress) {
        if (window < 1 || tokens.length % window != 0) {
            throw new IllegalArgumentException(tokens.length + " tokens do not split into windows of " + window);
        }
        double nll = 0;
        int scored = 0;
        for (int start = 0; start < tokens.length; start += window) {
            int[] win = Arrays.copyOfRange(tokens, start, start + window);
            // A fresh session per window: every cache policy starts empty (sink windows cannot be rewound).
            try (LlamaSession s = new LlamaSession(w, alloc, "perplexity", options)) {
                int prev = tok.bos();
                for (int t : win) {
                    s.step(prev);
                    nll -= logSoftmax(s.logits(), t);
                    scored++;
                    prev = t;
                    if (progress != null) {
                        progress.accept(scored);
                    }
                }
            }
        }
        double mean = nll / scored;
        return new Result(Math.exp(mean), mean, scored, tokens.length / window);
    }

    private static double logSoftmax(float[] logits, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        return logits[target] - max - Math.log(sum);
    }
}
