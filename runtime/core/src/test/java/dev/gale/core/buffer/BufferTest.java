package dev.gale.core.buffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.BufferStateException;
import dev.gale.core.ShapeMismatchException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BufferTest {
    @TempDir
    Path tmp;

    @Test
    void allocatedMemoryIsZeroedAlignedAndSized() {
        try (Buffer b = Buffers.allocate("x", DType.F16, 7)) {
            assertEquals(14, b.byteSize());
            assertEquals(0, b.segment().address() % Buffers.ALIGNMENT);
            for (int i = 0; i < 7; i++) {
                assertEquals(0f, b.getFloat(i));
            }
        }
        try (Buffer q = Buffers.allocate("q", DType.Q4, 7)) {
            assertEquals(4, q.byteSize());
        }
    }

    @Test
    void slicesAreViewsOfTheSameMemory() {
        try (Buffer b = Buffers.f32("b", 0, 1, 2, 3, 4, 5)) {
            Buffer s = b.slice(2, 3);
            assertArrayEquals(new float[] {2, 3, 4}, s.toFloatArray());
            s.setFloat(0, 42);
            assertEquals(42f, b.getFloat(2));
            assertEquals(3, s.length());
        }
    }

    @Test
    void outOfRangeSlicesAndIndicesNameTheBuffer() {
        try (Buffer b = Buffers.allocate("weights", DType.F32, 10)) {
            SliceOutOfRangeException e = assertThrows(SliceOutOfRangeException.class, () -> b.slice(8, 3));
            assertTrue(e.getMessage().contains("weights") && e.getMessage().contains("10"), e.getMessage());
            assertThrows(SliceOutOfRangeException.class, () -> b.slice(-1, 2));
            assertThrows(SliceOutOfRangeException.class, () -> b.getFloat(10));
        }
        try (Buffer q = Buffers.allocate("q", DType.Q4, 10)) {
            assertThrows(SliceOutOfRangeException.class, () -> q.slice(1, 2));
        }
    }

    @Test
    void q4NibblesPackLowFirst() {
        try (Buffer q = Buffers.allocate("q", DType.Q4, 4)) {
            q.setInt(0, 0x3);
            q.setInt(1, 0xA);
            q.setInt(2, 0xF);
            assertEquals((byte) 0xA3, q.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
            assertEquals(0xF, q.getInt(2));
            assertEquals(0, q.getInt(3));
        }
    }

    @Test
    void useAfterCloseIsATypedError() {
        Buffer b = Buffers.allocate("gone", DType.F32, 4);
        Buffer view = b.slice(1, 2);
        b.close();
        assertFalse(view.isOpen());
        BufferStateException e = assertThrows(BufferStateException.class, view::segment);
        assertTrue(e.getMessage().contains("gone"), e.getMessage());
        b.close(); // idempotent
    }

    @Test
    void tensorViewsMustFitTheirBuffer() {
        try (Buffer b = Buffers.allocate("m", DType.F32, 12)) {
            assertEquals(4, b.view(3, 4).dim(1));
            ShapeMismatchException e = assertThrows(ShapeMismatchException.class, () -> b.view(4, 4));
            assertTrue(e.getMessage().contains("F32[4, 4]") && e.getMessage().contains("'m'"), e.getMessage());
        }
    }

    @Test
    void descriptorsKnowSpanAndContiguity() {
        TensorDesc d = TensorDesc.of(DType.F32, 2, 3, 4);
        assertArrayEquals(new long[] {12, 4, 1}, d.strides());
        assertEquals(24, d.span());
        TensorDesc transposed = new TensorDesc(DType.F32, new long[] {4, 3}, new long[] {1, 4});
        assertFalse(transposed.isContiguous());
        assertEquals(12, transposed.span());
        assertEquals("F32[4, 3] strides [1, 4]", transposed.toString());
    }

    @Test
    void mappedFilesAreReadInPlace() throws IOException {
        Path f = tmp.resolve("w.bin");
        ByteBuffer bb = ByteBuffer.allocate(8 + 16).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(0xDEADBEEFL).putFloat(1.5f).putFloat(-2f).putFloat(3f).putFloat(4f);
        Files.write(f, bb.array());
        try (Buffer m = Buffers.map(f, DType.F32, 8, 4, false)) {
            assertArrayEquals(new float[] {1.5f, -2f, 3f, 4f}, m.toFloatArray());
            assertTrue(m.origin().startsWith("mapped"));
        }
        // One MemorySegment class for every buffer: the Vector API's loads compile slower once they have seen two
        // (a Llama decode ran at half speed after the mapped norm weights had gone through them).
        try (Buffer m = Buffers.map(f, DType.F32, 8, 4, false); Buffer a = Buffers.allocate("a", DType.F32, 4);
             Buffer cow = Buffers.mapCopyOnWrite(f)) {
            assertSame(a.segment().getClass(), m.segment().getClass());
            assertSame(a.segment().getClass(), cow.segment().getClass());
            assertTrue(m.segment().isReadOnly());
            assertThrows(RuntimeException.class, () -> m.setFloat(0, 1f));
            cow.segment().set(ValueLayout.JAVA_BYTE, 0, (byte) 7);
            assertEquals(7, cow.segment().get(ValueLayout.JAVA_BYTE, 0));
        }
        Buffer closed = Buffers.map(f, DType.F32, 8, 4, false);
        MemorySegment seg = closed.segment();
        closed.close();
        assertThrows(IllegalStateException.class, () -> seg.get(ValueLayout.JAVA_FLOAT, 0));
        assertEquals(0xEF, Files.readAllBytes(f)[0] & 0xFF, "the copy-on-write write stayed in memory");
        SliceOutOfRangeException e = assertThrows(SliceOutOfRangeException.class,
                () -> Buffers.map(f, DType.F32, 8, 5, false));
        assertTrue(e.getMessage().contains("w.bin") && e.getMessage().contains("24 bytes"), e.getMessage());
    }

    @Test
    void arrowBuffersAreWrappedWithoutCopying() {
        try (BufferAllocator alloc = new RootAllocator()) {
            try (ArrowBuf ab = alloc.buffer(16)) {
                ab.setFloat(4, 7.25f);
                try (Buffer g = Buffers.wrapArrow("kv", ab, DType.F32)) {
                    assertEquals(7.25f, g.getFloat(1));
                    g.setFloat(2, -1f);
                    assertEquals(-1f, ab.getFloat(8));
                    assertEquals(ab.memoryAddress(), g.segment().address());
                }
            }
            try (Buffer owned = Buffers.allocateArrow(alloc, "cache", DType.F16, 100)) {
                assertEquals(100, owned.length());
                assertTrue(alloc.getAllocatedMemory() >= 200);
            }
            assertEquals(0, alloc.getAllocatedMemory());
        }
    }
}
