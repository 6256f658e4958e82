package dev.gale.models.llama;

import dev.gale.core.GaleException;

/** A calibration text with fewer tokens than calibrating needs; the message states both counts. */
public final class CalibrationException extends GaleException {
    private final int tokens;
    private final int minimum;

    public CalibrationException(String source, int tokens, int minimum) {
        super("calibration text " + source + " has " + tokens + " tokens; calibrating needs at least " + minimum
                + " (per-channel maxima over fewer tokens do not find a layer's outlier channels reliably)");
        this.tokens = tokens;
        this.minimum = minimum;
    }

    public int tokens() {
        return tokens;
    }

    public int minimum() {
        return minimum;
    }
}
