package dev.gale.cuda;

import dev.gale.core.GaleException;

/** A CUDA driver or NVRTC call failed; the message has the call, the API's error name and code, and any detail. */
public class CudaException extends GaleException {
    private final int code;

    public CudaException(String call, int code, String errorName, String detail) {
        super(call + ": " + errorName + " (" + code + ")" + (detail == null || detail.isEmpty() ? "" : ": " + detail));
        this.code = code;
    }

    public CudaException(String message) {
        super(message);
        this.code = 0;
    }

    /** The CUresult or nvrtcResult, or 0 when the failure was not an error code (a missing library, a timeout). */
    public int code() {
        return code;
    }
}
