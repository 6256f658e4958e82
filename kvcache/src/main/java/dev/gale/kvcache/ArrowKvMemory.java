package dev.gale.kvcache;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The memory of one session's KV cache: named regions allocated from an Arrow {@link BufferAllocator} (a child of
 * the application's allocator, so Arrow's accounting and limits cover every session) and used by the kernels as
 * plain Gale buffers, zero-copy. Closing it frees every region.
 */
public final class ArrowKvMemory implements AutoCloseable {
    private final BufferAllocator allocator;
    private final Map<String, KvRegion> regions = new LinkedHashMap<>();

    /** A session's memory as a child of {@code parent}, limited to {@code limitBytes}. */
    public ArrowKvMemory(BufferAllocator parent, String session, long limitBytes) {
        this.allocator = parent.newChildAllocator("kv:" + session, 0, limitBytes);
    }

    /** Zeroed memory for region {@code name}; names are unique within a cache. */
    public Buffer allocate(String name, DType dtype, long count) {
        if (regions.containsKey(name)) {
            throw new IllegalArgumentException("KV region '" + name + "' is already allocated");
        }
        Buffer b = Buffers.allocateArrow(allocator, name, dtype, count);
        regions.put(name, new KvRegion(name, b));
        return b;
    }

    /** The regions in allocation order, which is the order a file stores them in. */
    public List<KvRegion> regions() {
        return Collections.unmodifiableList(new ArrayList<>(regions.values()));
    }

    public long allocatedBytes() {
        return allocator.getAllocatedMemory();
    }

    @Override
    public void close() {
        for (KvRegion r : regions.values()) {
            r.buffer().close();
        }
        regions.clear();
        allocator.close();
    }
}
