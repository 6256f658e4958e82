package dev.gale.cuda;

/** The GPU has too little free memory for an allocation; the message gives the size asked for. */
public final class DeviceMemoryException extends CudaException {
    public DeviceMemoryException(String message) {
        super(message);
    }
}
