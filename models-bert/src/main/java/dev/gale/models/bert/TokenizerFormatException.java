package dev.gale.models.bert;

import dev.gale.core.GaleException;

/** A tokenizer.json that cannot be used: not JSON, or not an uncased BERT WordPiece tokenizer Gale understands. */
public final class TokenizerFormatException extends GaleException {
    private final long offset;

    public TokenizerFormatException(String source, String field, long offset, String problem) {
        super("tokenizer " + source + ": " + field + (offset >= 0 ? " at character " + offset : "") + ": " + problem);
        this.offset = offset;
    }

    /** Character offset in the JSON text, or −1. */
    public long offset() {
        return offset;
    }
}
