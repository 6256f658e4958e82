package dev.gale.models.gguf;

import dev.gale.core.GaleException;
import dev.gale.models.WeightType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF v3 file: metadata, tensor descriptions, zero padding to the alignment, then each tensor aligned.
 * The layout is computed first, the file is sized and mapped once, and each tensor's {@link TensorSource} fills its
 * own slice, so multi-gigabyte synthetic models stream without a heap copy. The file appears atomically: it is
 * written as a temporary file in the target directory and renamed over the target only when complete.
 */
public final class GgufWriter {
    /** Fills a tensor's bytes; {@code dst} is exactly the tensor's size. */
    @FunctionalInterface
    public interface TensorSource {
        void fill(MemorySegment dst);
    }

    private record Pending(String name, WeightType type, long[] shape, TensorSource source) {
    }

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final Map<String, Pending> tensors = new LinkedHashMap<>();

    public GgufWriter put(String key, GgufValue value) {
        metadata.put(key, value);
        return this;
    }

    /** Adds a tensor of row-major {@code shape} (written as ggml dims, innermost first). */
    public GgufWriter tensor(String name, WeightType type, long[] shape, TensorSource source) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        type.byteSize(n); // rejects a row that is not a whole number of blocks
        if (tensors.putIfAbsent(name, new Pending(name, type, shape.clone(), source)) != null) {
            throw new IllegalArgumentException("tensor '" + name + "' added twice");
        }
        return this;
    }

    public void write(Path out) {
        long alignment = metadata.containsKey("general.alignment")
                ? (Long) metadata.get("general.alignment").value() : GgufReader.DEFAULT_ALIGNMENT;
        List<Long> offsets = new ArrayList<>();
        long next = 0;
        for (Pending t : tensors.values()) {
            offsets.add(next);
            next = align(next + t.type().byteSize(elements(t.shape())), alignment);
        }
        byte[] header = header(offsets);
        long dataStart = align(header.length, alignment);
        long total = dataStart + next;
        Path dir = out.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, out.getFileName() + ".", ".tmp");
            try (Arena arena = Arena.ofShared();
                    FileChannel ch = FileChannel.open(tmp, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MemorySegment file = ch.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
                MemorySegment.copy(MemorySegment.ofArray(header), 0, file, 0, header.length);
                int i = 0;
                for (Pending t : tensors.values()) {
                    long bytes = t.type().byteSize(elements(t.shape()));
                    t.source().fill(file.asSlice(dataStart + offsets.get(i++), bytes));
                }
                file.force();
            }
            try {
                Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new GaleException("cannot write " + out + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed; that error is the one to report
                }
            }
        }
    }

    private byte[] header(List<Long> offsets) {
        LeOut o = new LeOut();
        o.i32(GgufReader.MAGIC).i32(3).i64(tensors.size()).i64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            o.string(e.getKey()).i32(e.getValue().type().id());
            o.value(e.getValue().type(), e.getValue().value());
        }
        int i = 0;
        for (Pending t : tensors.values()) {
            o.string(t.name()).i32(t.shape().length);
            for (int d = t.shape().length - 1; d >= 0; d--) {
                o.i64(t.shape()[d]);
            }
            o.i32(t.type().ggmlId()).i64(offsets.get(i++));
        }
        return o.bytes.toByteArray();
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    static long align(long x, long alignment) {
        return (x + alignment - 1) / alignment * alignment;
    }

    /** Little-endian serialisation of header fields. */
    private static final class LeOut {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        LeOut i32(long v) {
            bytes.write(scratch.clear().putInt((int) v).array(), 0, 4);
            return this;
        }

        LeOut i64(long v) {
            bytes.write(scratch.clear().putLong(v).array(), 0, 8);
            return this;
        }

        LeOut string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            bytes.writeBytes(b);
            return this;
        }

        void value(GgufType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> bytes.write((int) (long) (Long) v);
                case BOOL -> bytes.write((Boolean) v ? 1 : 0);
                case UINT16, INT16 -> bytes.write(scratch.clear().putShort((short) (long) (Long) v).array(), 0, 2);
                case UINT32, INT32 -> i32((Long) v);
                case UINT64, INT64 -> i64((Long) v);
                case FLOAT32 -> bytes.write(scratch.clear().putFloat((Float) v).array(), 0, 4);
                case FLOAT64 -> bytes.write(scratch.clear().putDouble((Double) v).array(), 0, 8);
                case STRING -> string((String) v);
                case ARRAY -> {
                    GgufValue.GgufArray a = (GgufValue.GgufArray) v;
                    i32(a.elementType().id()).i64(a.values().size());
                    a.values().forEach(x -> value(a.elementType(), x));
                }
            }
        }
    }
}
