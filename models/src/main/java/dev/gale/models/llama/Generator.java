package dev.gale.models.llama;

import dev.gale.models.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * Text in, text out: encodes a prompt, prefills it in one batched pass, then decodes step by step, streaming each
 * token's text as soon as it forms whole UTF-8 characters. Stops after {@code steps} tokens in total (prompt included,
 * as llama2.c counts) or when the model emits BOS or EOS.
 */
public final class Generator {
    /**
     * What a run did and how fast; {@code next} is the last token sampled and not yet fed to the session (the token
     * to continue from), or −1 when the model ended the text.
     */
    public record Stats(int promptTokens, long prefillNanos, int generated, long decodeNanos, int next) {
        public double prefillTokensPerSecond() {
            return prefillNanos == 0 ? 0 : promptTokens * 1e9 / prefillNanos;
        }

        public double decodeTokensPerSecond() {
            return decodeNanos == 0 ? 0 : generated * 1e9 / decodeNanos;
        }
    }

    private Generator() {
    }

    public static Stats generate(LlamaSession session, Tokenizer tok, String prompt, int steps, Consumer<String> out) {
        return generate(session, tok, prompt, steps, -1, out);
    }

    /**
     * {@link #generate} for a session that may already hold tokens (a resumed cache): its context continues with
     * {@code pending} (the token its last run sampled, when ≥ 0) and the prompt without a BOS, and {@code steps} counts
     * positions from 0 as before, so the run ends at position {@code steps}.
     */
    public static Stats generate(LlamaSession session, Tokenizer tok, String prompt, int steps, int pending,
            Consumer<String> out) {
        int start = session.position();
        int[] ids;
        if (start == 0) {
            ids = tok.encode(prompt, true, false);
        } else {
            int[] text = tok.encode(prompt, false, false);
            ids = pending < 0 ? text : java.util.stream.IntStream.concat(java.util.stream.IntStream.of(pending),
                    java.util.Arrays.stream(text)).toArray();
            if (ids.length == 0) {
                throw new IllegalArgumentException("the session ended its text and no prompt continues it");
            }
        }
        if (start + ids.length >= steps) {
            throw new IllegalArgumentException("the prompt is " + ids.length + " tokens" + (start > 0 ? " after "
                    + start + " cached ones" : "") + "; --steps " + steps + " leaves no room to generate");
        }
        Utf8Stream text = new Utf8Stream(out);
        // Echo the prompt: not the BOS of a fresh run, nor a pending token (the run that sampled it printed it).
        for (int i = start == 0 || pending >= 0 ? 1 : 0; i < ids.length; i++) {
            text.add(tok.pieceBytes(i == 0 ? -1 : ids[i - 1], ids[i]));
        }
        long t0 = System.nanoTime();
        int next = session.prefill(ids);
        long t1 = System.nanoTime();
        int prev = ids[ids.length - 1];
        int generated = 0;
        for (int pos = start + ids.length; pos < steps; pos++) {
            if (next == tok.bos() || next == tok.eos()) {
                next = -1;
                break;
            }
            text.add(tok.pieceBytes(prev, next));
            generated++;
            prev = next;
            if (pos + 1 < steps) {
                next = session.step(next);
            }
        }
        long t2 = System.nanoTime();
        text.flush();
        return new Stats(ids.length, t1 - t0, generated, t2 - t1, next);
    }

    /** Bytes to text, holding back an incomplete UTF-8 sequence until its last byte arrives. */
    private static final class Utf8Stream {
        private final Consumer<String> out;
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

        Utf8Stream(Consumer<String> out) {
            this.out = out;
        }

        void add(byte[] bytes) {
            pending.writeBytes(bytes);
            byte[] b = pending.toByteArray();
            int complete = completePrefix(b);
            if (complete > 0) {
                out.accept(new String(b, 0, complete, StandardCharsets.UTF_8));
                pending.reset();
                pending.write(b, complete, b.length - complete);
            }
        }

        void flush() {
            if (pending.size() > 0) {
                out.accept(pending.toString(StandardCharsets.UTF_8));
                pending.reset();
            }
        }

        /** Length of the longest prefix that does not end inside a multi-byte character. */
        private static int completePrefix(byte[] b) {
            int n = b.length;
            for (int back = 1; back <= Math.min(3, n); back++) {
                int c = b[n - back] & 0xFF;
                if ((c & 0xC0) == 0x80) {
                    continue; // continuation byte: look further back for the lead byte
                }
                int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
                return need > back ? n - back : n;
            }
            return n;
        }
    }
}
