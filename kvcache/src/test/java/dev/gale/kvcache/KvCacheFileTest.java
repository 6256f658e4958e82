package dev.gale.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.DType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.TinyIntVector;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KvCacheFileTest {
    private static final String MODEL = "sha256:0123abcd";
    @TempDir
    Path dir;
    private BufferAllocator root;
    private ArrowKvMemory memory;

    @BeforeEach
    void setUp() {
        root = new RootAllocator();
        memory = new ArrowKvMemory(root, "test", 1 << 26);
        SplittableRandom r = new SplittableRandom(7);
        Buffer k = memory.allocate("layer0.k", DType.F16, 3 * 64 * 32);
        Buffer codes = memory.allocate("layer0.k.codes", DType.U8, 1001);
        memory.allocate("layer0.empty", DType.F32, 0);
        Buffer scales = memory.allocate("layer0.k.scales", DType.F32, 77);
        fill(k.segment(), r);
        fill(codes.segment(), r);
        fill(scales.segment(), r);
    }

    @AfterEach
    void tearDown() {
        memory.close();
        root.close();
    }

    private static void fill(MemorySegment s, SplittableRandom r) {
        for (long i = 0; i < s.byteSize(); i++) {
            s.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt());
        }
    }

    private KvCacheHeader header() {
        return new KvCacheHeader(MODEL, "int4-kivi-g32-r128", "sinks:4,window:60", 123,
                Map.of("capacity", "64", "positions", "0-122"));
    }

    @Test
    void roundTripIsZeroCopyAndCopyOnWrite() throws IOException {
        Path f = dir.resolve("session.arrow");
        KvCacheFile.write(f, header(), memory.regions());
        byte[] onDisk = Files.readAllBytes(f);
        try (MappedKvCache c = KvCacheFile.open(f, MODEL, "int4-kivi-g32-r128")) {
            assertEquals(header(), c.header());
            assertEquals(List.of("layer0.k", "layer0.k.codes", "layer0.empty", "layer0.k.scales"),
                    List.copyOf(c.regions().keySet()));
            for (KvRegion want : memory.regions()) {
                Buffer got = c.region(want.name());
                assertEquals(want.dtype(), got.dtype());
                assertEquals(want.buffer().length(), got.length());
                assertArrayEquals(want.buffer().segment().toArray(ValueLayout.JAVA_BYTE),
                        got.segment().toArray(ValueLayout.JAVA_BYTE), want.name());
            }
            // Zero copy: the region lies inside the file's mapping, at the offset of its bytes in the file.
            Buffer k = c.region("layer0.k");
            byte[] first = k.segment().asSlice(0, 64).toArray(ValueLayout.JAVA_BYTE);
            assertTrue(indexOf(onDisk, first) > 0);
            // Copy-on-write: the session may extend the cache in place; the file does not change.
            k.segment().fill((byte) 0x55);
            assertEquals((byte) 0x55, k.segment().get(ValueLayout.JAVA_BYTE, 10));
        }
        assertArrayEquals(onDisk, Files.readAllBytes(f));
    }

    @Test
    void anyArrowReaderSeesTheRegionsAsInt8Batches() throws IOException {
        Path f = dir.resolve("interop.arrow");
        KvCacheFile.write(f, header(), memory.regions());
        try (BufferAllocator a = new RootAllocator(); FileChannel ch = FileChannel.open(f);
             ArrowFileReader r = new ArrowFileReader(ch, a)) {
            assertEquals(4, r.getRecordBlocks().size());
            assertTrue(r.loadNextBatch());
            TinyIntVector v = (TinyIntVector) r.getVectorSchemaRoot().getVector("bytes");
            MemorySegment want = memory.regions().get(0).buffer().segment();
            assertEquals(want.byteSize(), v.getValueCount());
            for (int i = 0; i < v.getValueCount(); i += 97) {
                assertEquals(want.get(ValueLayout.JAVA_BYTE, i), v.get(i));
            }
            assertEquals(MODEL, r.getMetaData().get("gale.kv.model"));
        }
    }

    @Test
    void wrongModelOrPrecisionIsRejectedByName() {
        Path f = dir.resolve("s.arrow");
        KvCacheFile.write(f, header(), memory.regions());
        KvCacheFileException e = assertThrows(KvCacheFileException.class, () -> KvCacheFile.open(f, "sha256:other",
                null));
        assertEquals("gale.kv.model", e.field());
        assertTrue(e.getMessage().contains(f.toString()));
        e = assertThrows(KvCacheFileException.class, () -> KvCacheFile.open(f, MODEL, "f16"));
        assertEquals("gale.kv.precision", e.field());
    }

    @Test
    void aFlippedDataBitFailsTheChecksum() throws IOException {
        Path f = dir.resolve("s.arrow");
        KvCacheFile.write(f, header(), memory.regions());
        byte[] b = Files.readAllBytes(f);
        byte[] needle = memory.regions().get(1).buffer().segment().asSlice(0, 32).toArray(ValueLayout.JAVA_BYTE);
        int at = indexOf(b, needle) + 5;
        b[at] ^= 0x10;
        Files.write(f, b);
        KvCacheFileException e = assertThrows(KvCacheFileException.class, () -> KvCacheFile.open(f, MODEL, null));
        assertEquals("gale.kv.crc32c", e.field());
    }

    @Test
    void writesAreAtomicAndLeaveNoTemporaries() throws IOException {
        Path f = dir.resolve("s.arrow");
        Files.writeString(f, "previous contents");
        KvCacheFile.write(f, header(), memory.regions());
        try (MappedKvCache c = KvCacheFile.open(f, MODEL, null)) {
            assertEquals(123, c.header().tokens());
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(f), files.toList());
        }
        Path missing = dir.resolve("no-such-dir").resolve("s.arrow");
        assertThrows(KvCacheFileException.class, () -> KvCacheFile.write(missing, header(), memory.regions()));
        assertFalse(Files.exists(missing));
    }

    /**
     * Seeded mutation fuzzing: truncations, bit flips, overwritten ints and huge lengths anywhere in the file. Every
     * mutant either opens with the original bytes (a flip in padding) or fails with the typed error; nothing else
     * may escape, and nothing may allocate what the file claims before checking it.
     */
    @Test
    void mutatedFilesGiveTheTypedErrorOrTheOriginalBytes() throws IOException {
        Path f = dir.resolve("s.arrow");
        KvCacheFile.write(f, header(), memory.regions());
        byte[] good = Files.readAllBytes(f);
        SplittableRandom r = new SplittableRandom(2026);
        Path m = dir.resolve("mutant.arrow");
        int typed = 0;
        for (int iter = 0; iter < 600; iter++) {
            byte[] b = mutate(good, r, iter);
            Files.write(m, b);
            try (MappedKvCache c = KvCacheFile.open(m, MODEL, null)) {
                for (KvRegion want : memory.regions()) {
                    assertArrayEquals(want.buffer().segment().toArray(ValueLayout.JAVA_BYTE),
                            c.region(want.name()).segment().toArray(ValueLayout.JAVA_BYTE),
                            "mutant " + iter + " opened with different bytes");
                }
            } catch (KvCacheFileException e) {
                typed++;
                assertEquals(m, e.file());
            }
        }
        assertTrue(typed > 400, "most mutants must be rejected, got " + typed);
    }

    private static byte[] mutate(byte[] good, SplittableRandom r, int iter) {
        switch (iter % 4) {
            case 0 -> {
                return java.util.Arrays.copyOf(good, r.nextInt(good.length));
            }
            case 1 -> {
                byte[] b = good.clone();
                int flips = 1 + r.nextInt(4);
                for (int i = 0; i < flips; i++) {
                    b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                }
                return b;
            }
            case 2 -> {
                byte[] b = good.clone();
                int at = r.nextInt(b.length - 4);
                int v = r.nextBoolean() ? Integer.MAX_VALUE - r.nextInt(16) : r.nextInt();
                b[at] = (byte) v;
                b[at + 1] = (byte) (v >> 8);
                b[at + 2] = (byte) (v >> 16);
                b[at + 3] = (byte) (v >> 24);
                return b;
            }
            default -> {
                // The footer and the last batch's metadata: where lengths and offsets live.
                byte[] b = good.clone();
                int at = b.length - 1 - r.nextInt(Math.min(b.length, 600));
                b[at] = (byte) r.nextInt();
                return b;
            }
        }
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
