package dev.gale.cuda;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.device.ResidentMemory;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelArgumentException;
import dev.gale.core.kernel.KernelSource;
import dev.gale.core.kernel.LaunchArguments;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Launches {@code gale-compiler} kernels on one CUDA device from one thread: a launch session, the CUDA twin of the
 * OpenCL {@code KernelLauncher}. Arguments are checked by {@link LaunchArguments}; the kernel comes from the device's
 * {@link CudaModules}. A buffer the device's {@link ResidentMemory} holds (a graph's resident tensor) is passed at its
 * device address and not copied. Every other host {@link Buffer} gets a device copy kept for the session: before a
 * launch, buffers the kernel reads are copied to the device; after it, buffers it writes are copied back. A read-only
 * host segment (a weight file mapped read-only) cannot change, so it is copied once. Everything goes through the
 * legacy default stream, which orders copies and launches. A launch that copies nothing back and uses a resident
 * buffer is queued and not waited for (it reports no device time); any other launch is timed with a pair of events
 * and waited for. Every wait, including the one before a copy behind queued launches, has a deadline
 * ({@code -Dgale.cuda.timeoutSeconds}, default 120) so a hung kernel is an error, not a hang.
 */
final class CudaLauncher {
    private final CudaDevice device;
    private final CuDriver drv;
    private final Map<String, KernelSource> sources = new HashMap<>();
    private final Map<Buffer, Mirror> mirrors = new IdentityHashMap<>();
    /** The device's memory for resident graph tensors; they skip the copies around the launch. */
    private final ResidentMemory resident;
    private final MemorySegment start;
    private final MemorySegment end;
    /**
     * {@code -Dgale.cuda.waitEachLaunch=true}: every launch waits for its kernel, so a run report's task times include
     * the device's time (for profiling); by default a launch whose buffers all stay on the device does not wait.
     */
    private static final boolean WAIT_EACH_LAUNCH = Boolean.getBoolean("gale.cuda.waitEachLaunch");

    /** Device memory standing for one host buffer; {@code uploaded} marks a read-only one that is already there. */
    private static final class Mirror {
        final long pointer;
        final long address;
        final long bytes;
        boolean uploaded;

        Mirror(long pointer, long address, long bytes) {
            this.pointer = pointer;
            this.address = address;
            this.bytes = bytes;
        }
    }

    CudaLauncher(CudaDevice device) {
        this.device = device;
        this.drv = CuDriver.get();
        this.resident = device.residentMemory();
        drv.setCurrent(device.context());
        this.start = drv.createEvent();
        this.end = drv.createEvent();
    }

    long launchInline(Class<?> owner, String method, Grid grid, Object... allArgs) {
        KernelSource src = sources.computeIfAbsent(owner.getName() + "." + method,
                k -> KernelSource.load(owner, method));
        return launch(LaunchArguments.inline(src, grid, device.capabilities().maxWorkGroupSize(), allArgs), grid);
    }

    private long launch(LaunchArguments la, Grid grid) {
        // Another library on this thread may have made its own context current since the last launch.
        drv.setCurrent(device.context());
        CudaModules.Compiled k = device.modules().get(la);
        if (grid.groupItems() > k.maxThreadsPerBlock()) {
            throw new KernelArgumentException(la.kernelName(), null, "blocks of " + grid.groupItems() + " threads ("
                    + grid + ") exceed the " + k.maxThreadsPerBlock() + " this kernel's " + k.registers()
                    + " registers per thread allow on " + device.id());
        }
        Object[] args = la.args();
        List<KernelSource.Param> params = la.params();
        List<Buffer> readBack = new ArrayList<>();
        boolean anyResident = false;
        try (Arena a = Arena.ofConfined()) {
            // cuLaunchKernel takes an array of pointers, one per kernel parameter, each to that parameter's value.
            MemorySegment pointers = a.allocate(ValueLayout.ADDRESS, Math.max(1, params.size()));
            for (int i = 0; i < args.length; i++) {
                KernelSource.Param p = params.get(i);
                MemorySegment slot = a.allocate(8, 8);
                if (p.kind() == KernelSource.Kind.BUFFER) {
                    Buffer b = (Buffer) args[i];
                    // A read-only buffer (mapped weights) cannot be held: it is copied once below.
                    long held = resident == null || b.segment().isReadOnly() ? 0
                            : resident.deviceAddress(b, p.access() != KernelSource.Access.READ);
                    if (held != 0) {
                        anyResident = true;
                        slot.set(ValueLayout.JAVA_LONG, 0, held);
                        pointers.setAtIndex(ValueLayout.ADDRESS, p.arg(), slot);
                        continue;
                    }
                    Mirror m = mirror(b);
                    if (p.access() != KernelSource.Access.WRITE) {
                        upload(b, m);
                    }
                    if (p.access() != KernelSource.Access.READ) {
                        readBack.add(b);
                    }
                    slot.set(ValueLayout.JAVA_LONG, 0, m.pointer);
                } else {
                    switch (p.type()) {
                        case "int" -> slot.set(ValueLayout.JAVA_INT, 0, ((Number) args[i]).intValue());
                        case "long" -> slot.set(ValueLayout.JAVA_LONG, 0, ((Number) args[i]).longValue());
                        default -> slot.set(ValueLayout.JAVA_FLOAT, 0, ((Number) args[i]).floatValue());
                    }
                }
                pointers.setAtIndex(ValueLayout.ADDRESS, p.arg(), slot);
            }
            int[] blocks = {grid.numGroups(0), grid.numGroups(1), grid.numGroups(2)};
            int[] threads = {grid.localSize(0), grid.localSize(1), grid.localSize(2)};
            if (anyResident && readBack.isEmpty() && !WAIT_EACH_LAUNCH) {
                // Nothing to copy back: the launch is queued behind the earlier ones and the host moves on. The next
                // copy waits for the queue (CudaDevice.drain, with the deadline); the stream keeps the order.
                drv.launch(k.function(), blocks, threads, pointers, la.kernelName() + " " + grid);
                device.queued();
                return 0;
            }
            long ticket = device.queued();
            drv.record(start);
            drv.launch(k.function(), blocks, threads, pointers, la.kernelName() + " " + grid);
            drv.record(end);
            device.await(end, "kernel " + la.kernelName(), ticket);
        }
        for (Buffer b : readBack) {
            Mirror m = mirrors.get(b);
            drv.copyToHost(b.segment(), m.pointer, m.bytes, "'" + b.name() + "'");
        }
        return Math.round(drv.elapsedMillis(start, end) * 1e6);
    }

    private void upload(Buffer b, Mirror m) {
        boolean readOnly = b.segment().isReadOnly();
        if (readOnly && m.uploaded) {
            return;
        }
        if (m.bytes > 0) {
            // A copy from pageable memory waits for the queue anyway: wait here, where a stuck kernel meets a deadline.
            device.drain("copying '" + b.name() + "' to " + device.id());
            drv.copyToDevice(m.pointer, b.segment(), m.bytes, "'" + b.name() + "'");
        }
        m.uploaded = readOnly;
    }

    private Mirror mirror(Buffer host) {
        long address = host.segment().address();
        long bytes = host.segment().byteSize();
        Mirror m = mirrors.get(host);
        if (m != null && m.address == address && m.bytes == bytes) {
            return m;
        }
        if (m != null) {
            device.drain("freeing '" + host.name() + "' on " + device.id());
            drv.free(m.pointer);
        }
        evictClosed();
        m = new Mirror(drv.alloc(bytes, "'" + host.name() + "' on " + device.id()), address, bytes);
        mirrors.put(host, m);
        return m;
    }

    private void evictClosed() {
        for (Iterator<Map.Entry<Buffer, Mirror>> it = mirrors.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Buffer, Mirror> e = it.next();
            if (!e.getKey().isOpen()) {
                device.drain("freeing '" + e.getKey().name() + "' on " + device.id());
                drv.free(e.getValue().pointer);
                it.remove();
            }
        }
    }
}
