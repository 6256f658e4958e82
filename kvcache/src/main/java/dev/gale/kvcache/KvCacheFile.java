package dev.gale.kvcache;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32C;
import org.apache.arrow.flatbuf.Message;
import org.apache.arrow.flatbuf.MessageHeader;
import org.apache.arrow.flatbuf.RecordBatch;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.ForeignAllocation;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.ReadChannel;
import org.apache.arrow.vector.ipc.message.ArrowBlock;
import org.apache.arrow.vector.ipc.message.ArrowFieldNode;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.ipc.message.MessageMetadataResult;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * A KV cache saved as an Arrow IPC file, and mapped back without copying.
 *
 * <p><b>Format.</b> A standard Arrow IPC file with one non-null {@code Int8} column named {@code bytes}. Each region
 * of the cache is one record batch (of at most {@link #MAX_REGION_BYTES}) whose data buffer holds the region's bytes
 * verbatim; the validity buffer is empty, as the spec allows when there are no nulls. The
 * footer's custom metadata holds the {@link KvCacheHeader}, the region table ({@code name:dtype:count} in file order)
 * and a CRC32C over the canonical header text and every region byte. Any Arrow reader can open it; Gale reads it by
 * mapping the file copy-on-write and taking each region as a view of its batch's data buffer, so resuming a long
 * prefix costs page faults, not a copy, and extending it never writes the file.
 *
 * <p><b>Safety.</b> Writes go to a temporary file in the target's directory, are forced to disk and renamed over the
 * target atomically. Reads validate the file's framing, every block and buffer offset against the file size, the
 * region table against the batches, the model identity and precision against the caller's, and the checksum, before
 * any region is handed out. Every failure is a {@link KvCacheFileException} naming the file, field and offset.
 */
public final class KvCacheFile {
    /**
     * Largest region: one record batch, whose rows Arrow's Java vectors count in an {@code int}. Caches keep each
     * layer's keys and values (and their scales) in separate regions, so one region passes 2 GiB only beyond a
     * million tokens per layer; such a cache must split its regions.
     */
    public static final long MAX_REGION_BYTES = Integer.MAX_VALUE & ~63L;
    /** Bytes per CRC update: a {@code ByteBuffer} view is limited to 2 GiB. */
    private static final long CRC_STEP = 1L << 30;
    static final String FORMAT = "gale-kv-1";
    private static final String K_FORMAT = "gale.kv.format";
    private static final String K_MODEL = "gale.kv.model";
    private static final String K_PRECISION = "gale.kv.precision";
    private static final String K_POLICY = "gale.kv.policy";
    private static final String K_TOKENS = "gale.kv.tokens";
    private static final String K_REGIONS = "gale.kv.regions";
    private static final String K_CRC = "gale.kv.crc32c";
    private static final String ATTR = "gale.kv.attr.";
    private static final byte[] MAGIC = "ARROW1".getBytes(StandardCharsets.US_ASCII);
    private static final Schema SCHEMA = new Schema(List.of(
            new Field("bytes", FieldType.notNullable(new ArrowType.Int(8, true)), null)));

    private KvCacheFile() {
    }

    /** Writes {@code regions} under {@code header} to {@code file}, atomically (temporary file, then rename). */
    public static void write(Path file, KvCacheHeader header, List<KvRegion> regions) {
        for (KvRegion r : regions) {
            if (r.bytes() > MAX_REGION_BYTES) {
                throw new KvCacheFileException(file, "region " + r.name(), -1, r.bytes() + " bytes is over the "
                        + MAX_REGION_BYTES + "-byte limit of one record batch; split the region");
            }
        }
        Map<String, String> meta = metadata(header, regions);
        meta.put(K_CRC, Long.toHexString(checksum(meta, regions)));
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
            try (BufferAllocator alloc = new RootAllocator();
                 VectorSchemaRoot root = VectorSchemaRoot.create(SCHEMA, alloc);
                 FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE,
                         StandardOpenOption.TRUNCATE_EXISTING);
                 RegionWriter w = new RegionWriter(root, ch, meta)) {
                w.start();
                for (KvRegion r : regions) {
                    w.writeRegion(alloc, r.buffer().segment());
                }
                w.end();
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("the file system of " + dir + " cannot rename atomically", e);
            }
            tmp = null;
        } catch (IOException e) {
            throw new KvCacheFileException(file, "write", -1, e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // The original failure is the one to report.
                }
            }
        }
    }

    /**
     * Maps {@code file} copy-on-write and checks it belongs to model {@code modelId} and holds {@code precision}
     * (null accepts any precision).
     */
    public static MappedKvCache open(Path file, String modelId, String precision) {
        Buffer mapping;
        try {
            mapping = Buffers.mapCopyOnWrite(file);
        } catch (RuntimeException e) {
            throw new KvCacheFileException(file, "file", -1, "cannot map: " + e.getMessage(), e);
        }
        try {
            return read(file, mapping, modelId, precision);
        } catch (RuntimeException e) {
            mapping.close();
            throw e;
        }
    }

    private static MappedKvCache read(Path file, Buffer mapping, String modelId, String precision) {
        MemorySegment seg = mapping.segment();
        long size = seg.byteSize();
        checkFraming(file, seg);
        Map<String, String> meta;
        List<ArrowBlock> blocks;
        try (BufferAllocator alloc = new RootAllocator();
             FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
             ArrowFileReader reader = new ArrowFileReader(ch, alloc)) {
            if (!reader.getVectorSchemaRoot().getSchema().equals(SCHEMA)) {
                throw new KvCacheFileException(file, "schema", -1, "not a Gale KV cache: schema is "
                        + reader.getVectorSchemaRoot().getSchema());
            }
            meta = new HashMap<>(reader.getMetaData());
            blocks = reader.getRecordBlocks();
        } catch (KvCacheFileException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new KvCacheFileException(file, "footer", size - MAGIC.length - 4, "unreadable Arrow footer: " + e, e);
        }
        KvCacheHeader header = header(file, meta);
        if (!header.modelId().equals(modelId)) {
            throw new KvCacheFileException(file, K_MODEL, -1, "written by model " + header.modelId()
                    + ", not by this model " + modelId);
        }
        if (precision != null && !header.precision().equals(precision)) {
            throw new KvCacheFileException(file, K_PRECISION, -1, "holds " + header.precision() + " KV, but "
                    + precision + " was asked for");
        }
        List<RegionSpec> table = regionTable(file, meta.get(K_REGIONS));
        List<MemorySegment> chunks = new ArrayList<>();
        for (ArrowBlock b : blocks) {
            chunks.add(chunkOf(file, seg, b));
        }
        if (table.size() != chunks.size()) {
            throw new KvCacheFileException(file, "record batches", -1, "file has " + chunks.size()
                    + " batches but the region table lists " + table.size() + " regions");
        }
        Map<String, Buffer> regions = new LinkedHashMap<>();
        List<KvRegion> inOrder = new ArrayList<>();
        for (int i = 0; i < table.size(); i++) {
            RegionSpec r = table.get(i);
            MemorySegment chunk = chunks.get(i);
            long bytes = r.dtype.byteSize(r.count);
            if (chunk.byteSize() != bytes) {
                throw new KvCacheFileException(file, "record batch " + i, chunk.address() - seg.address(),
                        "region " + r.name + " holds " + chunk.byteSize() + " bytes, the table says " + bytes);
            }
            if (regions.containsKey(r.name)) {
                throw new KvCacheFileException(file, K_REGIONS, -1, "region " + r.name + " appears twice");
            }
            Buffer view = mapping.viewAs(r.name, r.dtype, chunk.address() - seg.address(), r.count);
            regions.put(r.name, view);
            inOrder.add(new KvRegion(r.name, view));
        }
        Map<String, String> canonical = new HashMap<>(meta);
        String stored = canonical.remove(K_CRC);
        long crc = checksum(canonical, inOrder);
        if (stored == null || !stored.equals(Long.toHexString(crc))) {
            throw new KvCacheFileException(file, K_CRC, -1, "checksum mismatch: stored " + stored + ", computed "
                    + Long.toHexString(crc) + " (the file is corrupt)");
        }
        return new MappedKvCache(file, header, mapping, regions);
    }

    /** The file starts and ends with Arrow's magic and its footer length fits: checked before Arrow parses it. */
    private static void checkFraming(Path file, MemorySegment seg) {
        long size = seg.byteSize();
        long min = 8 + 4 + MAGIC.length;
        if (size < min) {
            throw new KvCacheFileException(file, "size", 0, size + " bytes is too short for an Arrow IPC file");
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (seg.get(ValueLayout.JAVA_BYTE, i) != MAGIC[i]) {
                throw new KvCacheFileException(file, "leading magic", i, "not an Arrow IPC file");
            }
            if (seg.get(ValueLayout.JAVA_BYTE, size - MAGIC.length + i) != MAGIC[i]) {
                throw new KvCacheFileException(file, "trailing magic", size - MAGIC.length + i,
                        "truncated or not an Arrow IPC file");
            }
        }
        long lenAt = size - MAGIC.length - 4;
        int footer = seg.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), lenAt);
        if (footer <= 0 || footer > lenAt - 8) {
            throw new KvCacheFileException(file, "footer length", lenAt, "footer of " + footer
                    + " bytes does not fit a file of " + size);
        }
    }

    /** The data buffer of one record batch, as a view of the mapping, after checking every offset. */
    private static MemorySegment chunkOf(Path file, MemorySegment seg, ArrowBlock b) {
        long size = seg.byteSize();
        long off = b.getOffset();
        long metaLen = b.getMetadataLength();
        long bodyLen = b.getBodyLength();
        if (off < 8 || metaLen <= 0 || bodyLen < 0 || off > size || metaLen > size - off
                || bodyLen > size - off - metaLen) {
            throw new KvCacheFileException(file, "record block", off, "block [offset " + off + ", metadata "
                    + metaLen + ", body " + bodyLen + "] lies outside the file of " + size + " bytes");
        }
        RecordBatch rb;
        try {
            MemorySegment metaSeg = seg.asSlice(off, metaLen);
            // Arrow would allocate the prefixed length before reading: bound it by the block first.
            ValueLayout.OfInt le = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            int prefix = metaLen >= 8 && metaSeg.get(le, 0) == -1 ? metaSeg.get(le, 4) : metaSeg.get(le, 0);
            if (prefix <= 0 || prefix > metaLen - 4) {
                throw new KvCacheFileException(file, "record batch message length", off, prefix
                        + " does not fit the block's " + metaLen + " metadata bytes");
            }
            MessageMetadataResult m = MessageSerializer.readMessage(new ReadChannel(new SegmentChannel(metaSeg)));
            if (m == null || m.headerType() != MessageHeader.RecordBatch) {
                throw new KvCacheFileException(file, "record batch message", off, "not a record batch");
            }
            Message msg = m.getMessage();
            rb = (RecordBatch) msg.header(new RecordBatch());
            if (rb == null || rb.buffersLength() != 2 || rb.nodesLength() != 1 || rb.compression() != null) {
                throw new KvCacheFileException(file, "record batch message", off,
                        "expected one uncompressed Int8 column with 2 buffers");
            }
        } catch (KvCacheFileException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new KvCacheFileException(file, "record batch message", off, "unreadable: " + e, e);
        }
        long rows = rb.length();
        long dataOff = rb.buffers(1).offset();
        long dataLen = rb.buffers(1).length();
        long bodyStart = off + metaLen;
        if (rows < 0 || rb.nodes(0).nullCount() != 0 || dataOff < 0 || dataLen < rows || dataOff > bodyLen
                || rows > bodyLen - dataOff) {
            throw new KvCacheFileException(file, "record batch buffers", bodyStart, rows + " rows with data buffer ["
                    + dataOff + ", +" + dataLen + ") do not fit the body of " + bodyLen + " bytes");
        }
        return seg.asSlice(bodyStart + dataOff, rows);
    }

    private static Map<String, String> metadata(KvCacheHeader h, List<KvRegion> regions) {
        Map<String, String> m = new TreeMap<>();
        m.put(K_FORMAT, FORMAT);
        m.put(K_MODEL, h.modelId());
        m.put(K_PRECISION, h.precision());
        m.put(K_POLICY, h.policy());
        m.put(K_TOKENS, Long.toString(h.tokens()));
        StringBuilder t = new StringBuilder();
        for (KvRegion r : regions) {
            t.append(t.isEmpty() ? "" : ";").append(r.name()).append(':').append(r.dtype()).append(':')
                    .append(r.buffer().length());
        }
        m.put(K_REGIONS, t.toString());
        h.attributes().forEach((k, v) -> m.put(ATTR + k, v));
        return m;
    }

    private static KvCacheHeader header(Path file, Map<String, String> meta) {
        if (!FORMAT.equals(meta.get(K_FORMAT))) {
            throw new KvCacheFileException(file, K_FORMAT, -1, "is " + meta.get(K_FORMAT) + ", expected " + FORMAT);
        }
        long tokens;
        try {
            tokens = Long.parseLong(String.valueOf(meta.get(K_TOKENS)));
        } catch (NumberFormatException e) {
            throw new KvCacheFileException(file, K_TOKENS, -1, "not a number: " + meta.get(K_TOKENS));
        }
        Map<String, String> attrs = new TreeMap<>();
        meta.forEach((k, v) -> {
            if (k.startsWith(ATTR)) {
                attrs.put(k.substring(ATTR.length()), v);
            }
        });
        try {
            return new KvCacheHeader(meta.get(K_MODEL), meta.get(K_PRECISION), meta.get(K_POLICY), tokens, attrs);
        } catch (IllegalArgumentException e) {
            throw new KvCacheFileException(file, "header", -1, e.getMessage());
        }
    }

    private record RegionSpec(String name, DType dtype, long count) {
    }

    private static List<RegionSpec> regionTable(Path file, String table) {
        if (table == null) {
            throw new KvCacheFileException(file, K_REGIONS, -1, "missing");
        }
        List<RegionSpec> out = new ArrayList<>();
        if (table.isEmpty()) {
            return out;
        }
        for (String entry : table.split(";", -1)) {
            String[] p = entry.split(":", -1);
            try {
                if (p.length != 3 || p[0].isEmpty()) {
                    throw new IllegalArgumentException("expected name:dtype:count");
                }
                long count = Long.parseLong(p[2]);
                if (count < 0) {
                    throw new IllegalArgumentException("negative count");
                }
                out.add(new RegionSpec(p[0], DType.valueOf(p[1]), count));
            } catch (IllegalArgumentException e) {
                throw new KvCacheFileException(file, K_REGIONS, -1, "bad entry '" + entry + "': " + e.getMessage());
            }
        }
        return out;
    }

    /** CRC32C over the canonical (sorted) header text, then every region's bytes in file order. */
    private static long checksum(Map<String, String> meta, List<KvRegion> regions) {
        CRC32C crc = new CRC32C();
        new TreeMap<>(meta).forEach((k, v) -> crc.update((k + "=" + v + "\n").getBytes(StandardCharsets.UTF_8)));
        for (KvRegion r : regions) {
            MemorySegment s = r.buffer().segment().asSlice(0, r.bytes());
            for (long o = 0; o < s.byteSize(); o += CRC_STEP) {
                crc.update(s.asSlice(o, Math.min(CRC_STEP, s.byteSize() - o)).asByteBuffer());
            }
        }
        return crc.getValue();
    }

    /** Arrow's file writer, opened up to write a region's bytes as record batches without copying them. */
    private static final class RegionWriter extends ArrowFileWriter {
        RegionWriter(VectorSchemaRoot root, FileChannel ch, Map<String, String> meta) {
            super(root, null, ch, meta);
        }

        void writeRegion(BufferAllocator alloc, MemorySegment bytes) throws IOException {
            long len = bytes.byteSize();
            ArrowBuf data = len == 0 ? alloc.getEmpty()
                    : alloc.wrapForeignAllocation(new ForeignAllocation(len, bytes.address()) {
                        @Override
                        protected void release0() {
                            // The region owns the memory; the wrapper only lends it to the writer.
                        }
                    });
            try (ArrowRecordBatch batch = new ArrowRecordBatch((int) len, List.of(new ArrowFieldNode(len, 0)),
                    List.of(alloc.getEmpty(), data))) {
                writeRecordBatch(batch);
            } finally {
                data.getReferenceManager().release();
            }
        }
    }
}
