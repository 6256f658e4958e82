package dev.gale.core;

/** The chosen device has no implementation of a task, and the caller did not allow fallback. */
public class UnsupportedTaskException extends GaleException {
    public UnsupportedTaskException(String message) {
        super(message);
    }
}
