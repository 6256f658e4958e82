package dev.gale.models.bert;

import dev.gale.core.GaleException;

/** The all-MiniLM-L6-v2 files are neither on the class path nor in the local Maven repository. */
public final class ModelFilesMissingException extends GaleException {
    public ModelFilesMissingException(String message) {
        super(message);
    }
}
