package dev.gale.kvcache;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;

/**
 * One named piece of a KV cache's memory (for example {@code layer3.k.codes} or {@code layer3.v.scales}): a Gale
 * buffer whose bytes are saved and restored verbatim. Names are what ties a file back to the cache layout that
 * wrote it.
 */
public record KvRegion(String name, Buffer buffer) {
    public KvRegion {
        if (name == null || name.isEmpty() || name.chars().anyMatch(c -> c == ':' || c == ';' || c < 0x20)) {
            throw new IllegalArgumentException("KV region name must be non-empty without ':', ';' or control "
                    + "characters: '" + name + "'");
        }
    }

    public DType dtype() {
        return buffer.dtype();
    }

    public long bytes() {
        return buffer.byteSize();
    }
}
