package dev.gale.core.kernel;

import dev.gale.core.GaleException;

/**
 * A launch's arguments do not fit the kernel's descriptor: wrong count, a buffer of the wrong dtype, a scalar of the
 * wrong type, a closed buffer, a missing or unknown {@code @Const} value, or a grid the device cannot run. The message
 * names the kernel and the parameter.
 */
public final class KernelArgumentException extends GaleException {
    private final String kernel;
    private final String parameter;

    public KernelArgumentException(String kernel, String parameter, String message) {
        super("kernel " + kernel + (parameter == null ? "" : ", parameter '" + parameter + "'") + ": " + message);
        this.kernel = kernel;
        this.parameter = parameter;
    }

    /** {@code Class.method} of the kernel. */
    public String kernel() {
        return kernel;
    }

    /** The Java parameter at fault, or null when the fault is the whole call (argument count, grid). */
    public String parameter() {
        return parameter;
    }
}
