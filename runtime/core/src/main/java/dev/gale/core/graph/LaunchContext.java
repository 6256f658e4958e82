package dev.gale.core.graph;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.TensorDesc;
import java.lang.foreign.MemorySegment;

/** A launch's arguments resolved for one run: bound buffers and current scalar values, by argument position. */
public interface LaunchContext {
    /** The buffer bound to tensor argument {@code i}. */
    Buffer buffer(int i);

    /** The declared dtype and shape of tensor argument {@code i} (the bound buffer may be longer). */
    TensorDesc desc(int i);

    /** Shortcut for {@code buffer(i).segment()}. */
    default MemorySegment segment(int i) {
        return buffer(i).segment();
    }

    int intArg(int i);

    float floatArg(int i);
}
