package dev.gale.models.bert;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * BERT's WordPiece tokenizer built from a Hugging Face {@code tokenizer.json}: {@link BertNormalizer}, the BERT
 * pre-tokenizer (split on whitespace, every punctuation character its own word), greedy longest-match-first WordPiece
 * with {@code ##} continuations, {@code [UNK]} for a word that cannot be covered or is longer than
 * {@code max_input_chars_per_word}, and {@code [CLS] … [SEP]} around each sentence.
 *
 * <p>Sentences longer than {@link #maxTokens()} (counting [CLS] and [SEP]) are truncated at the right, and the
 * {@link Encoding} says so and by how much; nothing is dropped silently. The file's own truncation and padding
 * settings (128, fixed) are ignored on purpose: the limit is the model's position table, and a batch is padded to
 * its longest sentence.
 */
public final class WordPieceTokenizer {
    private final Map<String, Integer> vocab;
    private final String[] byId;
    private final BertNormalizer normalizer;
    private final String prefix;
    private final int maxWordChars;
    private final int unk;
    private final int cls;
    private final int sep;
    private final int pad;
    private final int maxTokens;

    private WordPieceTokenizer(Map<String, Integer> vocab, BertNormalizer normalizer, String prefix, int maxWordChars,
            int unk, int cls, int sep, int pad, int maxTokens) {
        this.vocab = vocab;
        this.normalizer = normalizer;
        this.prefix = prefix;
        this.maxWordChars = maxWordChars;
        this.unk = unk;
        this.cls = cls;
        this.sep = sep;
        this.pad = pad;
        this.maxTokens = maxTokens;
        this.byId = new String[vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1];
        vocab.forEach((k, v) -> byId[v] = k);
    }

    /** Reads a tokenizer.json; {@code maxTokens} is the model's limit (512 for BERT), [CLS] and [SEP] included. */
    public static WordPieceTokenizer fromJson(InputStream in, String source, int maxTokens) throws IOException {
        String text = decodeUtf8(in.readAllBytes(), source + " (tokenizer.json)");
        return fromJson(text, source, maxTokens);
    }

    @SuppressWarnings("unchecked")
    public static WordPieceTokenizer fromJson(String text, String source, int maxTokens) {
        if (maxTokens < 3) {
            throw new IllegalArgumentException("maxTokens must leave room for [CLS], one token and [SEP]: "
                    + maxTokens);
        }
        Object root = Json.parse(text, source);
        Map<String, Object> top = object(root, source, "(root)");
        Map<String, Object> model = object(top.get("model"), source, "model");
        if (!"WordPiece".equals(model.get("type"))) {
            throw new TokenizerFormatException(source, "model.type", -1, "is " + model.get("type")
                    + ", expected WordPiece");
        }
        Map<String, Object> rawVocab = object(model.get("vocab"), source, "model.vocab");
        Map<String, Integer> vocab = new HashMap<>(rawVocab.size() * 2);
        for (Map.Entry<String, Object> e : rawVocab.entrySet()) {
            if (!(e.getValue() instanceof Long id) || id < 0 || id >= rawVocab.size()) {
                throw new TokenizerFormatException(source, "model.vocab['" + e.getKey() + "']", -1, "id "
                        + e.getValue() + " is not an integer in [0, " + rawVocab.size() + ")");
            }
            vocab.put(e.getKey(), id.intValue());
        }
        Object n = top.get("normalizer");
        BertNormalizer normalizer;
        if (n == null) {
            normalizer = new BertNormalizer(false, false, false, false);
        } else {
            Map<String, Object> nm = object(n, source, "normalizer");
            if (!"BertNormalizer".equals(nm.get("type"))) {
                throw new TokenizerFormatException(source, "normalizer.type", -1, "is " + nm.get("type")
                        + ", only BertNormalizer is supported");
            }
            boolean lower = flag(nm, "lowercase", true, source);
            Object sa = nm.get("strip_accents");
            boolean strip = sa == null ? lower : flag(nm, "strip_accents", lower, source);
            normalizer = new BertNormalizer(flag(nm, "clean_text", true, source),
                    flag(nm, "handle_chinese_chars", true, source), strip, lower);
        }
        Object pt = top.get("pre_tokenizer");
        if (pt != null && !"BertPreTokenizer".equals(object(pt, source, "pre_tokenizer").get("type"))) {
            throw new TokenizerFormatException(source, "pre_tokenizer.type", -1, "only BertPreTokenizer is supported");
        }
        String prefix = model.get("continuing_subword_prefix") instanceof String s ? s : "##";
        int maxChars = model.get("max_input_chars_per_word") instanceof Long l ? (int) Math.min(l, 1 << 20) : 100;
        String unkToken = model.get("unk_token") instanceof String s ? s : "[UNK]";
        return new WordPieceTokenizer(vocab, normalizer, prefix, maxChars, id(vocab, unkToken, source),
                id(vocab, "[CLS]", source), id(vocab, "[SEP]", source), id(vocab, "[PAD]", source), maxTokens);
    }

    /** One tokenized sentence. */
    public record Encoding(int[] ids, int droppedTokens) {
        public boolean truncated() {
            return droppedTokens > 0;
        }
    }

    /**
     * Sentences padded together to the longest: {@code ids} and {@code mask} are {@code [batch][seq]}, row-major;
     * {@code lengths[b]} real tokens ([CLS] and [SEP] included) then padding; {@code dropped[b]} tokens cut by
     * truncation (0 for most).
     */
    public record Batch(int size, int seq, int[] ids, byte[] mask, int[] lengths, int[] dropped) {
        public boolean anyTruncated() {
            for (int d : dropped) {
                if (d > 0) {
                    return true;
                }
            }
            return false;
        }
    }

    public int maxTokens() {
        return maxTokens;
    }

    public int vocabSize() {
        return byId.length;
    }

    /** The token text of an id (for tests and messages). */
    public String token(int id) {
        return byId[id];
    }

    /** Tokenizes UTF-8 bytes; invalid UTF-8 is an {@link InvalidTextException} naming the byte offset. */
    public Encoding encode(byte[] utf8) {
        return encode(decodeUtf8(utf8, "input"));
    }

    /** [CLS] tokens [SEP], truncated to {@link #maxTokens()}. Empty text is an {@link InvalidTextException}. */
    public Encoding encode(String text) {
        if (text == null) {
            throw new InvalidTextException("sentence is null");
        }
        List<Integer> body = new ArrayList<>();
        for (String word : words(normalizer.normalize(text))) {
            wordPiece(word, body);
        }
        if (body.isEmpty()) {
            throw new InvalidTextException("sentence is empty" + (text.isEmpty() ? "" : " after normalisation "
                    + "(only whitespace or control characters): nothing to embed"));
        }
        int keep = Math.min(body.size(), maxTokens - 2);
        int[] ids = new int[keep + 2];
        ids[0] = cls;
        for (int i = 0; i < keep; i++) {
            ids[i + 1] = body.get(i);
        }
        ids[keep + 1] = sep;
        return new Encoding(ids, body.size() - keep);
    }

    /** Encodes each sentence and pads them together; an empty list is an {@link InvalidTextException}. */
    public Batch encodeBatch(List<String> sentences) {
        if (sentences == null || sentences.isEmpty()) {
            throw new InvalidTextException("no sentences to embed");
        }
        Encoding[] enc = new Encoding[sentences.size()];
        int seq = 0;
        for (int b = 0; b < enc.length; b++) {
            try {
                enc[b] = encode(sentences.get(b));
            } catch (InvalidTextException e) {
                throw new InvalidTextException("sentence " + b + ": " + e.getMessage());
            }
            seq = Math.max(seq, enc[b].ids().length);
        }
        int[] ids = new int[enc.length * seq];
        byte[] mask = new byte[enc.length * seq];
        int[] lengths = new int[enc.length];
        int[] dropped = new int[enc.length];
        for (int b = 0; b < enc.length; b++) {
            int[] e = enc[b].ids();
            lengths[b] = e.length;
            dropped[b] = enc[b].droppedTokens();
            for (int t = 0; t < seq; t++) {
                ids[b * seq + t] = t < e.length ? e[t] : pad;
                mask[b * seq + t] = (byte) (t < e.length ? 1 : 0);
            }
        }
        return new Batch(enc.length, seq, ids, mask, lengths, dropped);
    }

    /** BertPreTokenizer: whitespace separates words and is dropped; each punctuation character is a word. */
    static List<String> words(String s) {
        List<String> out = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if (BertNormalizer.isWhitespace(c)) {
                flush(w, out);
            } else if (BertNormalizer.isPunctuation(c)) {
                flush(w, out);
                out.add(new String(Character.toChars(c)));
            } else {
                w.appendCodePoint(c);
            }
        }
        flush(w, out);
        return out;
    }

    private static void flush(StringBuilder w, List<String> out) {
        if (!w.isEmpty()) {
            out.add(w.toString());
            w.setLength(0);
        }
    }

    /** Greedy longest match first; one uncoverable piece makes the whole word [UNK], as in BERT. */
    private void wordPiece(String word, List<Integer> out) {
        if (word.codePointCount(0, word.length()) > maxWordChars) {
            out.add(unk);
            return;
        }
        int mark = out.size();
        int start = 0;
        while (start < word.length()) {
            int end = word.length();
            Integer found = null;
            while (end > start) {
                String piece = start > 0 ? prefix + word.substring(start, end) : word.substring(start, end);
                found = vocab.get(piece);
                if (found != null) {
                    break;
                }
                end = Character.isLowSurrogate(word.charAt(end - 1)) && end - 2 > start ? end - 2 : end - 1;
            }
            if (found == null) {
                out.subList(mark, out.size()).clear();
                out.add(unk);
                return;
            }
            out.add(found);
            start = end;
        }
    }

    private static String decodeUtf8(byte[] bytes, String what) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            return d.decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new InvalidTextException(what + " is not valid UTF-8: " + badUtf8(bytes));
        }
    }

    /** Where the first invalid sequence starts (the decoder's exception does not say). */
    private static String badUtf8(byte[] b) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(b);
        java.nio.CharBuffer out = java.nio.CharBuffer.allocate(Math.max(16, b.length));
        var r = d.decode(in, out, true);
        if (r.isError()) {
            return "bad byte 0x" + Integer.toHexString(b[in.position()] & 0xFF) + " at byte offset " + in.position();
        }
        return "truncated sequence at the end";
    }

    private static int id(Map<String, Integer> vocab, String token, String source) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new TokenizerFormatException(source, "model.vocab", -1, "has no " + token + " token");
        }
        return id;
    }

    private static boolean flag(Map<String, Object> m, String key, boolean dflt, String source) {
        Object v = m.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw new TokenizerFormatException(source, "normalizer." + key, -1, "is " + v + ", expected a boolean");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object v, String source, String field) {
        if (v instanceof Map<?, ?> m) {
            return (Map<String, Object>) m;
        }
        throw new TokenizerFormatException(source, field, -1, v == null ? "missing" : "is not an object");
    }
}
