package dev.gale.opencl;

import dev.gale.core.GaleException;

/** An OpenCL call failed: the message names the call and the error, e.g. {@code clBuildProgram: CL_OUT_OF_RESOURCES}. */
public class OpenClException extends GaleException {
    private final int code;

    public OpenClException(String call, int code, String detail) {
        super(call + ": " + ClError.name(code) + " (" + code + ")" + (detail == null || detail.isEmpty() ? "" : ": " + detail));
        this.code = code;
    }

    public OpenClException(String message) {
        super(message);
        this.code = 0;
    }

    /** The OpenCL error code, or 0 when the failure was not an error code (a missing library, a timeout). */
    public int code() {
        return code;
    }
}
