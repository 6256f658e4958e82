package dev.gale.core;

/** Root of every error Gale raises on purpose. Messages name the buffer, parameter, file or call at fault. */
public class GaleException extends RuntimeException {
    public GaleException(String message) {
        super(message);
    }

    public GaleException(String message, Throwable cause) {
        super(message, cause);
    }
}
