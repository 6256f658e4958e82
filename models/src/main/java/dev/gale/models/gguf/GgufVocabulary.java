package dev.gale.models.gguf;

import dev.gale.models.tokenizer.Llama2cTokenizerFile;
import dev.gale.models.tokenizer.TokenType;
import dev.gale.models.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The SentencePiece vocabulary of a GGUF "llama" tokenizer ({@code tokenizer.ggml.*}) to and from a
 * {@link Tokenizer}. GGUF pieces spell spaces as U+2581 like SentencePiece does; the tokenizer (like llama2.c's
 * files) uses a plain space, so pieces are translated both ways. Pieces are written as UTF-8 strings, which every
 * SentencePiece vocabulary's pieces are (raw bytes go through {@code <0xHH>} byte pieces).
 */
public final class GgufVocabulary {
    public static final String MODEL = "tokenizer.ggml.model";
    public static final String TOKENS = "tokenizer.ggml.tokens";
    public static final String SCORES = "tokenizer.ggml.scores";
    public static final String TYPES = "tokenizer.ggml.token_type";
    public static final String BOS = "tokenizer.ggml.bos_token_id";
    public static final String EOS = "tokenizer.ggml.eos_token_id";
    private static final String SPM_SPACE = "\u2581";

    private GgufVocabulary() {
    }

    public static boolean present(GgufMetadata m) {
        return m.has(MODEL);
    }

    public static Tokenizer read(GgufMetadata m) {
        String model = m.string(MODEL);
        if (!model.equals("llama")) {
            throw m.error(MODEL, "tokenizer model '" + model + "' is not the SentencePiece \"llama\" model");
        }
        List<Object> tokens = m.array(TOKENS, GgufType.STRING).values();
        int n = tokens.size();
        List<Object> scores = m.array(SCORES, GgufType.FLOAT32).values();
        List<Object> types = m.array(TYPES, GgufType.INT32).values();
        if (n < 1 || scores.size() != n || types.size() != n) {
            throw m.error(n < 1 ? TOKENS : scores.size() != n ? SCORES : TYPES, "vocabulary has " + n + " tokens, "
                    + scores.size() + " scores and " + types.size() + " token types");
        }
        List<byte[]> pieces = new ArrayList<>(n);
        float[] s = new float[n];
        TokenType[] t = new TokenType[n];
        for (int i = 0; i < n; i++) {
            pieces.add(((String) tokens.get(i)).replace(SPM_SPACE, " ").getBytes(StandardCharsets.UTF_8));
            s[i] = (Float) scores.get(i);
            t[i] = TokenType.ofId((Long) types.get(i));
            if (t[i] == null) {
                throw m.error(TYPES, "token " + i + " has unknown type " + types.get(i));
            }
        }
        int bos = (int) m.integer(BOS, 0, n - 1, Llama2cTokenizerFile.BOS);
        int eos = (int) m.integer(EOS, 0, n - 1, Llama2cTokenizerFile.EOS);
        return new Tokenizer(pieces, s, t, bos, eos);
    }

    public static void write(Tokenizer t, GgufWriter w) {
        List<String> tokens = new ArrayList<>(t.size());
        List<Float> scores = new ArrayList<>(t.size());
        List<Long> types = new ArrayList<>(t.size());
        for (int i = 0; i < t.size(); i++) {
            tokens.add(new String(t.piece(i), StandardCharsets.UTF_8).replace(" ", SPM_SPACE));
            scores.add(t.score(i));
            types.add((long) t.type(i).id());
        }
        w.put(MODEL, GgufValue.string("llama"))
                .put(TOKENS, GgufValue.array(GgufType.STRING, tokens))
                .put(SCORES, GgufValue.array(GgufType.FLOAT32, scores))
                .put(TYPES, GgufValue.array(GgufType.INT32, types))
                .put(BOS, GgufValue.u32(t.bos()))
                .put(EOS, GgufValue.u32(t.eos()));
    }
}
