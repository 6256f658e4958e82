package dev.gale.core;

/** A plan was run with a buffer or run-time scalar left unbound. */
public class UnboundParameterException extends GaleException {
    public UnboundParameterException(String message) {
        super(message);
    }
}
