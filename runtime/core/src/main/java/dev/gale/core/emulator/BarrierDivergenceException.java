package dev.gale.core.emulator;

/**
 * The items of a work group did not all reach the same barrier: some returned while others waited, some waited at a
 * different barrier call, or they asked for different local arrays. On a device this hangs or corrupts memory.
 */
public final class BarrierDivergenceException extends EmulatorException {
    public BarrierDivergenceException(String message) {
        super(message);
    }
}
