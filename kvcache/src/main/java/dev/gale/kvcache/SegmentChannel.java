package dev.gale.kvcache;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/** A read channel over a memory segment, so Arrow's message reader parses a mapped file without a copy. */
final class SegmentChannel implements ReadableByteChannel {
    private final MemorySegment segment;
    private long position;
    private boolean open = true;

    SegmentChannel(MemorySegment segment) {
        this.segment = segment;
    }

    @Override
    public int read(ByteBuffer dst) {
        long left = segment.byteSize() - position;
        if (left <= 0) {
            return -1;
        }
        int n = (int) Math.min(left, dst.remaining());
        MemorySegment.ofBuffer(dst).copyFrom(segment.asSlice(position, n));
        dst.position(dst.position() + n);
        position += n;
        return n;
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() {
        open = false;
    }
}
