package dev.gale.core.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class HugePageAllocatorTest {
    private static final long MIB = 1L << 20;

    /** Sizes that share a region, fill its tail, and exceed a whole region. */
    private static final long[] SIZES = {1, 100, 3 * MIB + 5, 64, 60 * MIB, 7, 130 * MIB, 4096};

    @Test
    void allocationsAreZeroedAlignedDisjointAndWritable() {
        try (HugePageAllocator a = new HugePageAllocator()) {
            List<MemorySegment> segs = new ArrayList<>();
            for (long size : SIZES) {
                for (long align : new long[] {1, 64, 4096}) {
                    MemorySegment s = a.allocate(size, align);
                    assertEquals(size, s.byteSize());
                    assertEquals(0, s.address() % align, "alignment " + align);
                    assertEquals(0, s.get(ValueLayout.JAVA_BYTE, 0));
                    assertEquals(0, s.get(ValueLayout.JAVA_BYTE, size - 1));
                    segs.add(s);
                }
            }
            // Mark each segment's first and last byte with its index; an overlap would overwrite an earlier mark.
            for (int i = 0; i < segs.size(); i++) {
                MemorySegment s = segs.get(i);
                s.set(ValueLayout.JAVA_BYTE, 0, (byte) i);
                s.set(ValueLayout.JAVA_BYTE, s.byteSize() - 1, (byte) i);
            }
            for (int i = 0; i < segs.size(); i++) {
                MemorySegment s = segs.get(i);
                assertEquals((byte) i, s.get(ValueLayout.JAVA_BYTE, 0), "segment " + i);
                assertEquals((byte) i, s.get(ValueLayout.JAVA_BYTE, s.byteSize() - 1), "segment " + i);
            }
            if (HugePageAllocator.available()) {
                assertTrue(a.hugeAdvisedBytes() >= 130 * MIB, "advised " + a.hugeAdvisedBytes());
            }
        }
    }

    @Test
    void alignmentBeyondAHugePageStillHolds() {
        try (HugePageAllocator a = new HugePageAllocator()) {
            MemorySegment s = a.allocate(100, 4 * MIB);
            assertEquals(0, s.address() % (4 * MIB));
            assertEquals(100, s.byteSize());
        }
    }

    @Test
    void closeMakesEverySegmentInaccessible() {
        HugePageAllocator a = new HugePageAllocator();
        MemorySegment small = a.allocate(64, 8);
        MemorySegment big = a.allocate(70 * MIB, 64);
        a.close();
        assertThrows(IllegalStateException.class, () -> small.get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> big.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void rejectsBadRequests() {
        try (HugePageAllocator a = new HugePageAllocator()) {
            assertThrows(IllegalArgumentException.class, () -> a.allocate(-1, 8));
            assertThrows(IllegalArgumentException.class, () -> a.allocate(8, 3));
        }
    }
}
