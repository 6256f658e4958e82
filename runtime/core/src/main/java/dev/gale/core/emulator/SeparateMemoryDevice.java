package dev.gale.core.emulator;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceCopies;
import dev.gale.core.device.DeviceType;
import dev.gale.core.device.ResidentMemory;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelRunner;
import dev.gale.core.kernel.KernelSource;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A device whose kernels run under the {@link Emulator} on memory of its own: what a discrete GPU does to
 * a graph's {@linkplain dev.gale.core.graph.TaskGraph#resident resident} tensors, checkable on any machine. Its
 * "device memory" is native memory apart from the host buffers; {@link ResidentMemory} copies between them exactly as
 * it does for CUDA, and a launch sees a resident tensor only through its device copy. So a host read of a tensor a
 * kernel wrote, or a host write the device never hears of, shows up as wrong results here, not only on a GPU.
 * Buffers that are not resident are used in place, which is what copying them around every launch amounts to.
 */
public final class SeparateMemoryDevice implements Device {
    private final Emulator emulator = Emulator.parallel(Runtime.getRuntime().availableProcessors());
    private final Capabilities capabilities;
    private final ResidentMemory memory;
    /** Device allocations by address. */
    private final TreeMap<Long, Buffer> allocations = new TreeMap<>();
    private final Map<String, List<KernelSource.Param>> params = new ConcurrentHashMap<>();
    /** Bytes copied per region name, both ways, since the last {@link #copiesByName} call. */
    private final Map<String, Long> copied = new TreeMap<>();

    public SeparateMemoryDevice() {
        // An accelerator, not a GPU: the kernel variants PoCL gets (an item per GEMV row), which the emulator runs
        // some fifty times faster than a GPU's 256-item groups; the GPU variants have their own cross-device tests.
        this.capabilities = new Capabilities(DeviceType.ACCELERATOR, 4, 32, 1L << 30, 48 << 10, 1024, true, false,
                new long[] {0, 1 << 20, 0}, Map.of("memory", "its own, copied by ResidentMemory"));
        this.memory = new ResidentMemory(id(), new Copies());
    }

    @Override
    public String id() {
        return "emulator:separate";
    }

    @Override
    public String name() {
        return "grid emulator over device memory of its own";
    }

    @Override
    public String backend() {
        return "emulator";
    }

    @Override
    public Capabilities capabilities() {
        return capabilities;
    }

    @Override
    public ResidentMemory residentMemory() {
        return memory;
    }

    /** Bytes copied per region (as {@link ResidentMemory} names it) since the last call; resets the tally. */
    public synchronized Map<String, Long> copiesByName() {
        Map<String, Long> out = new TreeMap<>(copied);
        copied.clear();
        return out;
    }

    @Override
    public KernelRunner kernelRunner() {
        return this::launch;
    }

    private long launch(Class<?> owner, String method, Grid grid, Object... args) {
        List<KernelSource.Param> ps = params.computeIfAbsent(owner.getName() + "." + method,
                k -> KernelSource.load(owner, method).params().stream()
                        .filter(p -> p.kind() != KernelSource.Kind.CONTEXT).toList());
        Object[] onDevice = args.clone();
        for (int i = 0; i < args.length && i < ps.size(); i++) {
            if (ps.get(i).kind() == KernelSource.Kind.BUFFER && args[i] instanceof Buffer b) {
                long address = memory.deviceAddress(b, ps.get(i).access() != KernelSource.Access.READ);
                if (address != 0) {
                    onDevice[i] = deviceView(b, address);
                }
            }
        }
        return emulator.run(owner, method, grid, onDevice);
    }

    private synchronized Buffer deviceView(Buffer host, long address) {
        Map.Entry<Long, Buffer> e = allocations.floorEntry(address);
        return e.getValue().viewAs(host.name() + "@device", host.dtype(), address - e.getKey(),
                host.length());
    }

    private final class Copies implements DeviceCopies {
        @Override
        public long allocate(long bytes, String what) {
            // Filled with a pattern, not zeros: a kernel that reads device memory nobody uploaded reads garbage, as
            // on a GPU, rather than the zeros a fresh host buffer happens to hold.
            Buffer b = Buffers.allocate(what, DType.U8, bytes);
            b.segment().fill((byte) 0x7f);
            synchronized (SeparateMemoryDevice.this) {
                allocations.put(b.segment().address(), b);
            }
            return b.segment().address();
        }

        @Override
        public void free(long address) {
            Buffer b;
            synchronized (SeparateMemoryDevice.this) {
                b = allocations.remove(address);
            }
            b.close();
        }

        @Override
        public void toDevice(long address, MemorySegment host, String what) {
            MemorySegment.copy(host, 0, device(address, host.byteSize(), what), 0, host.byteSize());
        }

        @Override
        public void toHost(MemorySegment host, long address, String what) {
            MemorySegment.copy(device(address, host.byteSize(), what), 0, host, 0, host.byteSize());
        }

        private MemorySegment device(long address, long bytes, String what) {
            synchronized (SeparateMemoryDevice.this) {
                copied.merge(what, bytes, Long::sum);
                Map.Entry<Long, Buffer> e = allocations.floorEntry(address);
                return e.getValue().segment().asSlice(address - e.getKey(), bytes);
            }
        }
    }

    @Override
    public String toString() {
        return id() + " (" + name() + ")";
    }
}
