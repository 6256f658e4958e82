package dev.gale.core;

/** A buffer was used after close, or closed while a plan's bindings still hold it. */
public class BufferStateException extends GaleException {
    public BufferStateException(String message) {
        super(message);
    }
}
