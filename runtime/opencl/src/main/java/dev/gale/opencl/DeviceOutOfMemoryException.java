package dev.gale.opencl;

/** A device allocation failed or cannot fit: says what was requested and what the device has. */
public final class DeviceOutOfMemoryException extends OpenClException {
    public DeviceOutOfMemoryException(String message) {
        super(message);
    }
}
