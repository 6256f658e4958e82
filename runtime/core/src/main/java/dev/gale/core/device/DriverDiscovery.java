package dev.gale.core.device;

import dev.gale.core.GaleException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * What a native backend found when it loaded its driver, computed once per process: its devices, or why it has
 * none, and the JVM signal handlers the driver replaced and {@link SignalGuard} put back. Listing devices never
 * throws: a driver that is missing or fails is a reason, shown by {@code gale devices}.
 */
public final class DriverDiscovery {
    /** @param unavailable why {@code devices} is empty, or null when it is not */
    public record Found(List<Device> devices, String unavailable, List<String> restoredSignals) {
    }

    private final Supplier<List<Device>> find;
    private final String noneFound;
    private volatile Found found;

    /**
     * @param find      loads the driver and lists its devices; a {@link GaleException} it throws becomes the reason
     * @param noneFound the reason when the driver loads but lists no device
     */
    public DriverDiscovery(Supplier<List<Device>> find, String noneFound) {
        this.find = find;
        this.noneFound = noneFound;
    }

    public Found get() {
        Found f = found;
        if (f == null) {
            synchronized (this) {
                f = found;
                if (f == null) {
                    found = f = discover();
                }
            }
        }
        return f;
    }

    private Found discover() {
        List<Device> devices = new ArrayList<>();
        String[] why = new String[1];
        List<String> restored = SignalGuard.around(() -> {
            try {
                devices.addAll(find.get());
            } catch (GaleException e) {
                why[0] = e.getMessage();
            }
        });
        if (why[0] != null) {
            return new Found(List.of(), why[0], restored);
        }
        return new Found(List.copyOf(devices), devices.isEmpty() ? noneFound : null, restored);
    }
}
