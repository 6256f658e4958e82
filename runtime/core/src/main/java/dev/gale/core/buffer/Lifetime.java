package dev.gale.core.buffer;

import dev.gale.core.BufferStateException;
import java.util.HashMap;
import java.util.Map;

/** The lifetime shared by a buffer and all its views: who frees the memory, and who still uses it. */
final class Lifetime {
    final String origin;
    private final Runnable free;
    private final Map<String, Integer> users = new HashMap<>();
    volatile boolean closed;

    Lifetime(String origin, Runnable free) {
        this.origin = origin;
        this.free = free;
    }

    void checkOpen(String name) {
        if (closed) {
            throw new BufferStateException("buffer '" + name + "' (" + origin + ") is closed");
        }
    }

    synchronized void retain(String name, String user) {
        checkOpen(name);
        users.merge(user, 1, Integer::sum);
    }

    synchronized void release(String user) {
        users.computeIfPresent(user, (k, n) -> n == 1 ? null : n - 1);
    }

    synchronized void close(String name) {
        if (closed) {
            return;
        }
        if (!users.isEmpty()) {
            throw new BufferStateException("cannot close buffer '" + name + "': still bound in " + users.keySet()
                    + "; close or unbind those first");
        }
        closed = true;
        free.run();
    }
}
