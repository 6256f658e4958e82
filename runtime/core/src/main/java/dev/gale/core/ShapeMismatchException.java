package dev.gale.core;

/** A buffer's shape or dtype does not match what a launch or binding declared. */
public class ShapeMismatchException extends GaleException {
    public ShapeMismatchException(String message) {
        super(message);
    }
}
