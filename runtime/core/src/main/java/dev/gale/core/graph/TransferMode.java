package dev.gale.core.graph;

/** When a transfer between host and device memory happens. */
public enum TransferMode {
    /** On the first run of each {@link Bindings} (weights). */
    ONCE,
    /** On every run (inputs that change per token). */
    EVERY_RUN,
    /** Only on runs after {@link Bindings#requestTransfer} asked for it. */
    ON_DEMAND
}
