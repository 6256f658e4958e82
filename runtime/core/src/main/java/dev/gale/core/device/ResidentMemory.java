package dev.gale.core.device;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Host buffers that stay in a device's own memory between launches and between plan runs: the graph tensors a
 * {@link dev.gale.core.graph.TaskGraph} declares resident. Without it a discrete GPU's launcher copies every buffer a
 * kernel reads to the device before the launch and every buffer it writes back after it, so a decode step moves its
 * activations and KV cache across the bus hundreds of times per token.
 *
 * <p>Each held host range is a <em>region</em> with one device copy and two flags: which side holds the current data.
 * A launch asks for a buffer's device address: the region is uploaded first if the host side is the current one, and
 * a kernel that writes it makes the device side the only current one. Nothing comes back to the host until someone
 * asks ({@link #toHost}), and the last {@link #release} brings back what only the device has, so no data is lost.
 * Buffers are matched by host address range, not identity: a slice of a held buffer (the last row of the residual
 * stream) resolves into its parent's region at an offset, so two views never hold two diverging device copies.
 *
 * <p>Thread-safe: one instance per device, shared by every launching thread.
 */
public final class ResidentMemory {
    private final String deviceId;
    private final DeviceCopies copies;
    /** Regions by host start address; they never overlap. */
    private final TreeMap<Long, Region> regions = new TreeMap<>();

    private static final class Region {
        final long start;
        final long end;
        final MemorySegment host;
        final long device;
        final String name;
        int holds;
        boolean hostCurrent = true;
        boolean deviceCurrent;

        Region(long start, long end, MemorySegment host, long device, String name, int holds) {
            this.start = start;
            this.end = end;
            this.host = host;
            this.device = device;
            this.name = name;
            this.holds = holds;
        }
    }

    public ResidentMemory(String deviceId, DeviceCopies copies) {
        this.deviceId = deviceId;
        this.copies = copies;
    }

    /**
     * Keeps {@code b} on the device until a matching {@link #release}. Its data moves there on the first launch that
     * uses it. A buffer that overlaps held ones without fitting inside one joins them into one region (each brought
     * back to the host first, so nothing the device wrote is lost).
     */
    public synchronized void hold(Buffer b) {
        MemorySegment s = b.segment();
        if (s.byteSize() == 0) {
            return; // nothing to keep; launches pass an empty buffer as they always have
        }
        if (s.isReadOnly()) {
            throw new GaleException("buffer '" + b.name() + "' is read-only: launches copy it to " + deviceId
                    + " once already, it need not be held");
        }
        long start = s.address();
        long end = start + s.byteSize();
        Region inside = containing(start, end);
        if (inside != null) {
            inside.holds++;
            return;
        }
        List<Region> overlapping = overlapping(start, end);
        long lo = start;
        long hi = end;
        int holds = 1;
        MemorySegment base = s;
        for (Region r : overlapping) {
            bringHome(r);
            drop(r);
            holds += r.holds;
            if (r.start < lo) {
                lo = r.start;
                base = r.host;
            }
            hi = Math.max(hi, r.end);
        }
        // The union's host memory: the lowest region's segment reinterpreted to the union's length. Every part of it
        // belongs to a held buffer, so it is live memory.
        MemorySegment host = base.address() == lo && base.byteSize() == hi - lo ? base
                : MemorySegment.ofAddress(lo).reinterpret(hi - lo);
        String name = overlapping.isEmpty() ? b.name() : b.name() + " (joined with " + overlapping.size() + " more)";
        Region r = new Region(lo, hi, host, copies.allocate(Math.max(1, hi - lo), "'" + name + "' on " + deviceId),
                name, holds);
        regions.put(lo, r);
    }

    /** Ends one {@link #hold}; the last one brings back what only the device has and frees the device copy. */
    public synchronized void release(Buffer b) {
        if (b.segment().byteSize() == 0) {
            return;
        }
        Region r = regionOf(b);
        if (r == null) {
            throw new GaleException("buffer '" + b.name() + "' is not held on " + deviceId);
        }
        if (--r.holds == 0) {
            bringHome(r);
            drop(r);
        }
    }

    /** True when launches find {@code b} in device memory. */
    public synchronized boolean holds(Buffer b) {
        return regionOf(b) != null;
    }

    /**
     * The device address of {@code b} for a launch, its region made current there first; {@code writes}: the kernel
     * may write it, so the host copy stops being current. Returns 0 when {@code b} is not held (the launcher then
     * copies it around the launch as before).
     */
    public synchronized long deviceAddress(Buffer b, boolean writes) {
        MemorySegment s = b.segment();
        long start = s.address();
        Region r = containing(start, start + s.byteSize());
        if (r == null) {
            if (overlaps(start, start + s.byteSize())) {
                throw new GaleException("buffer '" + b.name() + "' overlaps memory held on " + deviceId
                        + " without lying inside it; hold the whole range");
            }
            return 0;
        }
        if (!r.deviceCurrent) {
            copies.toDevice(r.device, r.host, "'" + r.name + "'");
            r.deviceCurrent = true;
        }
        if (writes) {
            r.hostCurrent = false;
        }
        return r.device + (start - r.start);
    }

    /** Brings {@code b}'s region back to host memory if the device has written it since; a no-op when not held. */
    public synchronized void toHost(Buffer b) {
        Region r = regionOf(b);
        if (r != null) {
            bringHome(r);
        }
    }

    /**
     * Tells the device that the host wrote {@code b}: its bytes are copied to the device copy now (only them, so what
     * the device wrote elsewhere in the region stays). A no-op when not held.
     */
    public synchronized void toDevice(Buffer b) {
        Region r = regionOf(b);
        if (r == null) {
            return;
        }
        if (r.deviceCurrent) {
            MemorySegment s = b.segment();
            copies.toDevice(r.device + (s.address() - r.start), s, "'" + b.name() + "'");
        }
        // Otherwise the whole region goes up on its next use, this write with it.
    }

    /**
     * Hands {@code b} to host code that may read and write it (a host task, an op placed on the CPU): the host copy
     * is made current, and the device copy is refreshed before the next launch that uses it.
     */
    public synchronized void lendToHost(Buffer b) {
        Region r = regionOf(b);
        if (r != null) {
            bringHome(r);
            r.deviceCurrent = false;
        }
    }

    /** Held regions and their device bytes, for reports and tests. */
    public synchronized long deviceBytes() {
        long n = 0;
        for (Region r : regions.values()) {
            n += r.end - r.start;
        }
        return n;
    }

    public synchronized int regionCount() {
        return regions.size();
    }

    private void bringHome(Region r) {
        if (!r.hostCurrent) {
            copies.toHost(r.host, r.device, "'" + r.name + "'");
            r.hostCurrent = true;
        }
    }

    private void drop(Region r) {
        regions.remove(r.start);
        copies.free(r.device);
    }

    private Region regionOf(Buffer b) {
        MemorySegment s = b.segment();
        return containing(s.address(), s.address() + s.byteSize());
    }

    private Region containing(long start, long end) {
        Map.Entry<Long, Region> e = regions.floorEntry(start);
        return e != null && e.getValue().end >= end && (end > start || e.getValue().end > start) ? e.getValue() : null;
    }

    /** {@link #overlapping} without building the list: launches ask this for every buffer that is not held. */
    private boolean overlaps(long start, long end) {
        Map.Entry<Long, Region> below = regions.floorEntry(start);
        if (below != null && below.getValue().end > start) {
            return true;
        }
        Long above = regions.higherKey(start);
        return above != null && above < end;
    }

    private List<Region> overlapping(long start, long end) {
        List<Region> out = new ArrayList<>();
        Map.Entry<Long, Region> below = regions.lowerEntry(start);
        if (below != null && below.getValue().end > start) {
            out.add(below.getValue());
        }
        out.addAll(regions.subMap(start, true, end, false).values());
        return out;
    }
}
