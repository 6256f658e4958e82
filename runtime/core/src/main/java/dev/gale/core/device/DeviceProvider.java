package dev.gale.core.device;

import java.util.List;

/**
 * A backend's entry point, found with {@link java.util.ServiceLoader}. A provider whose native library or driver is
 * missing reports that through {@link #unavailableReason()} rather than throwing, so listing devices never fails.
 */
public interface DeviceProvider {
    String backend();

    /** The devices this backend can drive here; empty when unavailable. */
    List<Device> devices();

    /** Why this backend has no devices here (what to install), or null when it is available. */
    default String unavailableReason() {
        return null;
    }
}
