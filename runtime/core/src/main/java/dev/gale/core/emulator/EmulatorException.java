package dev.gale.core.emulator;

import dev.gale.core.GaleException;

/** A kernel failed under the emulator: an exception in a work item, barrier divergence, or bad arguments. */
public class EmulatorException extends GaleException {
    public EmulatorException(String message) {
        super(message);
    }

    public EmulatorException(String message, Throwable cause) {
        super(message, cause);
    }
}
