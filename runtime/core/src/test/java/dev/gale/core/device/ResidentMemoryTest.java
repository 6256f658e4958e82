package dev.gale.core.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The coherence rules of {@link ResidentMemory} against a device whose memory is plain native memory, with every
 * copy logged: a held buffer goes up once, kernel writes stay on the device until asked for, views resolve into
 * their parent's region, overlapping holds join without losing what the device wrote, and the last release brings
 * the device's data home and frees it.
 */
class ResidentMemoryTest {
    /** Device memory as native segments; each copy logged as "up NAME BYTES" or "down NAME BYTES". */
    static final class FakeCopies implements DeviceCopies {
        final Arena arena = Arena.ofShared();
        final Map<Long, MemorySegment> memory = new HashMap<>();
        final List<String> log = new ArrayList<>();
        int frees;

        @Override
        public long allocate(long bytes, String what) {
            MemorySegment s = arena.allocate(bytes, 64);
            s.fill((byte) 0x55);
            memory.put(s.address(), s);
            return s.address();
        }

        @Override
        public void free(long address) {
            assertTrue(memory.remove(address) != null, "freed twice or never allocated");
            frees++;
        }

        @Override
        public void toDevice(long address, MemorySegment host, String what) {
            MemorySegment.copy(host, 0, at(address, host.byteSize()), 0, host.byteSize());
            log.add("up " + what + " " + host.byteSize());
        }

        @Override
        public void toHost(MemorySegment host, long address, String what) {
            MemorySegment.copy(at(address, host.byteSize()), 0, host, 0, host.byteSize());
            log.add("down " + what + " " + host.byteSize());
        }

        MemorySegment at(long address, long bytes) {
            for (MemorySegment s : memory.values()) {
                if (address >= s.address() && address + bytes <= s.address() + s.byteSize()) {
                    return s.asSlice(address - s.address(), bytes);
                }
            }
            throw new AssertionError("no device allocation holds " + bytes + " bytes at " + address);
        }

        /** What a kernel does: writes {@code v} at float {@code i} of the device copy at {@code address}. */
        void kernelWrites(long address, long i, float v) {
            at(address + 4 * i, 4).set(ValueLayout.JAVA_FLOAT_UNALIGNED, 0, v);
        }

        float kernelReads(long address, long i) {
            return at(address + 4 * i, 4).get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0);
        }
    }

    @Test
    void aHeldBufferGoesUpOnceAndComesBackOnlyWhenAskedFor() {
        FakeCopies dev = new FakeCopies();
        ResidentMemory mem = new ResidentMemory("fake:0", dev);
        try (Buffer x = Buffers.f32("x", 1, 2, 3, 4)) {
            assertEquals(0, mem.deviceAddress(x, false), "not held: the launcher copies it around the launch");
            mem.hold(x);
            assertTrue(dev.log.isEmpty(), "nothing moves before a launch uses it");
            long a = mem.deviceAddress(x, false);
            assertEquals(List.of("up 'x' 16"), dev.log);
            assertEquals(3f, dev.kernelReads(a, 2));
            assertEquals(a, mem.deviceAddress(x, true));
            dev.kernelWrites(a, 1, 20f);
            assertEquals(a, mem.deviceAddress(x, false));
            assertEquals(1, dev.log.size(), "a held buffer is uploaded once");
            assertEquals(2f, x.getFloat(1), "the kernel's write stays on the device");
            mem.toHost(x);
            assertEquals(20f, x.getFloat(1));
            mem.toHost(x);
            assertEquals(List.of("up 'x' 16", "down 'x' 16"), dev.log, "a current host copy is not copied again");
            mem.release(x);
            assertEquals(1, dev.frees);
            assertFalse(mem.holds(x));
        }
    }

    @Test
    void aViewResolvesIntoItsParentsRegion() {
        FakeCopies dev = new FakeCopies();
        ResidentMemory mem = new ResidentMemory("fake:0", dev);
        try (Buffer x = Buffers.f32("x", 1, 2, 3, 4, 5, 6)) {
            Buffer last = x.slice(4, 2);
            mem.hold(x);
            mem.hold(last);
            assertEquals(1, mem.regionCount());
            long a = mem.deviceAddress(x, true);
            dev.kernelWrites(a, 5, 60f);
            assertEquals(a + 16, mem.deviceAddress(last, false), "the view reads its parent's device copy");
            assertEquals(60f, dev.kernelReads(mem.deviceAddress(last, false), 1));
            mem.toHost(last);
            assertEquals(60f, x.getFloat(5));
            mem.release(last);
            assertTrue(mem.holds(x), "the parent still holds the region");
            mem.release(x);
            assertEquals(0, mem.regionCount());
        }
    }

    @Test
    void overlappingHoldsJoinWithoutLosingTheDevicesWrites() {
        FakeCopies dev = new FakeCopies();
        ResidentMemory mem = new ResidentMemory("fake:0", dev);
        try (Buffer all = Buffers.f32("all", 1, 2, 3, 4, 5, 6, 7, 8)) {
            Buffer front = all.slice(0, 4);
            Buffer back = all.slice(4, 4);
            mem.hold(front);
            mem.hold(back);
            assertEquals(2, mem.regionCount());
            dev.kernelWrites(mem.deviceAddress(front, true), 0, 10f);
            dev.kernelWrites(mem.deviceAddress(back, true), 3, 80f);
            mem.hold(all);
            assertEquals(1, mem.regionCount());
            assertEquals(10f, all.getFloat(0), "joining brought the device's writes home first");
            assertEquals(80f, all.getFloat(7));
            long a = mem.deviceAddress(all, false);
            assertEquals(80f, dev.kernelReads(a, 7));
            assertEquals(a + 16, mem.deviceAddress(back, false));
            GaleException e = assertThrows(GaleException.class, () -> mem.release(Buffers.f32("other", 1)));
            assertTrue(e.getMessage().contains("'other'"), e.getMessage());
            mem.release(all);
            mem.release(front);
            mem.release(back);
            assertEquals(0, mem.regionCount());
            assertEquals(3, dev.frees);
        }
    }

    @Test
    void aHostWriteGoesUpAloneAndLendingMakesTheDeviceRefresh() {
        FakeCopies dev = new FakeCopies();
        ResidentMemory mem = new ResidentMemory("fake:0", dev);
        try (Buffer x = Buffers.f32("x", 1, 2, 3, 4)) {
            Buffer first = x.slice(0, 1);
            mem.hold(x);
            long a = mem.deviceAddress(x, true);
            dev.kernelWrites(a, 3, 40f);
            first.setFloat(0, 100f);
            mem.toDevice(first);
            assertEquals("up 'x[0:1]' 4", dev.log.getLast(), "only the written bytes go up");
            assertEquals(100f, dev.kernelReads(a, 0));
            assertEquals(40f, dev.kernelReads(a, 3), "the device's own write survives");
            assertEquals(4f, x.getFloat(3));
            mem.lendToHost(x);
            assertEquals(40f, x.getFloat(3), "lent to host code: the host copy is current");
            x.setFloat(2, 30f);
            int before = dev.log.size();
            mem.deviceAddress(x, false);
            assertEquals(before + 1, dev.log.size(), "after a loan the next launch uploads again");
            assertEquals(30f, dev.kernelReads(a, 2));
            mem.release(x);
            assertArrayEquals(new float[] {100f, 2f, 30f, 40f}, x.toFloatArray());
        }
    }

    @Test
    void theLastReleaseBringsTheDevicesDataHome() {
        FakeCopies dev = new FakeCopies();
        ResidentMemory mem = new ResidentMemory("fake:0", dev);
        try (Buffer x = Buffers.f32("x", 1, 2)) {
            mem.hold(x);
            mem.hold(x);
            dev.kernelWrites(mem.deviceAddress(x, true), 0, 7f);
            mem.release(x);
            assertEquals(1f, x.getFloat(0), "one hold remains: the data stays on the device");
            mem.release(x);
            assertEquals(7f, x.getFloat(0));
            assertNotEquals(0, dev.frees);
        }
    }

    @Test
    void readOnlyAndEmptyBuffersAreNotHeld() {
        ResidentMemory mem = new ResidentMemory("fake:0", new FakeCopies());
        try (Buffer w = Buffers.f32("w", 1, 2)) {
            GaleException e = assertThrows(GaleException.class, () -> mem.hold(w.readOnly()));
            assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("read-only"), e.getMessage());
            mem.hold(w.slice(1, 0));
            assertEquals(0, mem.regionCount());
            mem.release(w.slice(1, 0));
        }
    }
}
