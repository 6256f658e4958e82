package dev.gale.kvcache;

import dev.gale.core.buffer.Buffer;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;

/**
 * A KV cache read back from a file: its header and its regions, each a view of the file mapped copy-on-write. A
 * cache resumed from it may append tokens in place; the file is never changed. Closing it unmaps the file and
 * invalidates every region.
 */
public final class MappedKvCache implements AutoCloseable {
    private final Path file;
    private final KvCacheHeader header;
    private final Buffer mapping;
    private final Map<String, Buffer> regions;

    MappedKvCache(Path file, KvCacheHeader header, Buffer mapping, Map<String, Buffer> regions) {
        this.file = file;
        this.header = header;
        this.mapping = mapping;
        this.regions = Collections.unmodifiableMap(regions);
    }

    public Path file() {
        return file;
    }

    public KvCacheHeader header() {
        return header;
    }

    /** Regions by name, in file order. */
    public Map<String, Buffer> regions() {
        return regions;
    }

    /** Region {@code name}; a clear error naming the file if the cache has no such region. */
    public Buffer region(String name) {
        Buffer b = regions.get(name);
        if (b == null) {
            throw new KvCacheFileException(file, "region " + name, -1, "not in the file; it has " + regions.keySet());
        }
        return b;
    }

    @Override
    public void close() {
        mapping.close();
    }
}
