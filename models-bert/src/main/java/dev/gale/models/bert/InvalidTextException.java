package dev.gale.models.bert;

import dev.gale.core.GaleException;

/** Text the encoder cannot embed: an empty batch, an empty sentence, or bytes that are not UTF-8. */
public final class InvalidTextException extends GaleException {
    public InvalidTextException(String message) {
        super(message);
    }
}
