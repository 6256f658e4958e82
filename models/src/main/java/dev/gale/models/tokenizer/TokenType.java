package dev.gale.models.tokenizer;

/** SentencePiece piece types, with the ids GGUF's {@code tokenizer.ggml.token_type} uses. */
public enum TokenType {
    NORMAL(1), UNKNOWN(2), CONTROL(3), USER_DEFINED(4), UNUSED(5), BYTE(6);

    private final int id;

    TokenType(int id) {
        this.id = id;
    }

    public int id() {
        return id;
    }

    /** The type with GGUF id {@code id}, or null. */
    public static TokenType ofId(long id) {
        for (TokenType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }
}
