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
    /** What a run did and how fast. */
    public record Stats(int promptTokens, long prefillNanos, int generated, long decodeNanos) {
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
        int[] ids = tok.encode(prompt, true, false);
        if (ids.length >= steps) {
            throw new IllegalArgumentException("the prompt is " + ids.length + " tokens; --steps " + steps
                    + " leaves no room to generate");
        }
        Utf8Stream text = new Utf8Stream(out);
        for (int i = 1; i < ids.length; i++) {
            text.add(tok.pieceBytes(ids[i - 1], ids[i]));
        }
        long t0 = System.nanoTime();
        int next = session.prefill(ids);
        long t1 = System.nanoTime();
        int prev = ids[ids.length - 1];
        int generated = 0;
        for (int pos = ids.length; pos < steps; pos++) {
            if (next == tok.bos() || next == tok.eos()) {
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
        return new Stats(ids.length, t1 - t0, generated, t2 - t1);
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
