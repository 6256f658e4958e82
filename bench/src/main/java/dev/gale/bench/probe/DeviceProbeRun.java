package dev.gale.bench.probe;

/**
 * One device's probes ({@link DeviceProbes}) in both passes of a report run.
 *
 * @param device the device's id, e.g. {@code cuda:0}
 * @param label how the report names the device ({@code cuda:0 NVIDIA H200}, {@code pocl opencl:0})
 * @param roofline whether the device's cases are divided by these probes (a GPU or a device with its own memory);
 *     otherwise they are shown for comparison only and the host probes stay the roofline
 * @param start the probes before the cases; null when they failed
 * @param end the probes after the cases; null when they failed
 */
public record DeviceProbeRun(String device, String label, boolean roofline, ProbeSet start, ProbeSet end) {
    /** Per probe, the higher of the two passes, as for the host probes; null when neither pass ran. */
    public ProbeSet used() {
        if (start == null || end == null) {
            return start == null ? end : start;
        }
        return ProbeSet.best(start, end);
    }
}
