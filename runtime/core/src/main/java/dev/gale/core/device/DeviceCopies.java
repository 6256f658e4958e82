package dev.gale.core.device;

import java.lang.foreign.MemorySegment;

/**
 * The driver calls a device with its own memory offers {@link ResidentMemory}: allocation and the two copies. Device
 * memory is named by a {@code long} address, as CUDA's {@code CUdeviceptr} is, so a region's sub-range is the address
 * plus an offset.
 */
public interface DeviceCopies {
    /** Allocates {@code bytes} of device memory; {@code what} names it in errors. */
    long allocate(long bytes, String what);

    void free(long address);

    /** Copies all of {@code host} to device memory at {@code address}. */
    void toDevice(long address, MemorySegment host, String what);

    /** Copies device memory at {@code address} over all of {@code host}. */
    void toHost(MemorySegment host, long address, String what);
}
