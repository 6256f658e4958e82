package dev.gale.models.onnx;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * A cursor over one protobuf message in {@code [start, end)} of a segment: the wire format (varint keys
 * {@code field << 3 | wire type}; types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32) and nothing else. Every
 * varint, length and offset is checked against the message's end before it is used, and errors name the field path
 * and the absolute byte offset, so a corrupt file fails with an {@link OnnxFormatException} and never an index error,
 * an allocation of an attacker-chosen size or a loop that does not end.
 */
final class ProtoReader {
    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LEN = 2;
    static final int FIXED32 = 5;

    /** ONNX raw data is little endian whatever the host. */
    static final ValueLayout.OfInt I32_LE = JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment data;
    private final String source;
    private final String path;
    private final long end;
    private long pos;
    private int field;
    private int wireType;
    private long keyOffset;

    ProtoReader(MemorySegment data, String source, String path, long start, long end) {
        this.data = data;
        this.source = source;
        this.path = path;
        this.pos = start;
        this.end = end;
    }

    /** Reads the next key; false at the end of the message. */
    boolean next() {
        if (pos >= end) {
            return false;
        }
        keyOffset = pos;
        long key = varint("key");
        wireType = (int) (key & 7);
        long f = key >>> 3;
        if (f < 1 || f > 536_870_911L) {
            throw error("key", keyOffset, "field number " + f + " out of range");
        }
        if (wireType != VARINT && wireType != FIXED64 && wireType != LEN && wireType != FIXED32) {
            throw error("key", keyOffset, "wire type " + wireType + " of field " + f + " is not one ONNX uses");
        }
        field = (int) f;
        return true;
    }

    int field() {
        return field;
    }

    int wireType() {
        return wireType;
    }

    /** Offset of the current field's key. */
    long keyOffset() {
        return keyOffset;
    }

    String path() {
        return path;
    }

    String source() {
        return source;
    }

    MemorySegment data() {
        return data;
    }

    /** Skips the current field's value. */
    void skip() {
        switch (wireType) {
            case VARINT -> varint("field " + field);
            case FIXED64 -> advance(8, "field " + field);
            case FIXED32 -> advance(4, "field " + field);
            default -> {
                long n = length("field " + field);
                pos += n;
            }
        }
    }

    /** The current field as a varint, requiring wire type 0. */
    long readVarint(String name) {
        expect(VARINT, name);
        return varint(name);
    }

    /** The current field as a non-negative int (an enum, a count), requiring wire type 0. */
    int readInt(String name, int max) {
        long offset = pos;
        long v = readVarint(name);
        if (v < 0 || v > max) {
            throw error(name, offset, "value " + v + " out of range [0, " + max + "]");
        }
        return (int) v;
    }

    float readFixed32Float(String name) {
        expect(FIXED32, name);
        long at = pos;
        advance(4, name);
        return Float.intBitsToFloat(data.get(I32_LE, at));
    }

    /** The current length-delimited field as UTF-8 text. */
    String readString(String name) {
        long[] span = readBytes(name);
        byte[] b = data.asSlice(span[0], span[1]).toArray(JAVA_BYTE);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw error(name, span[0], "not valid UTF-8");
        }
    }

    /** The current length-delimited field as {@code {offset, length}} in the segment. */
    long[] readBytes(String name) {
        expect(LEN, name);
        long n = length(name);
        long at = pos;
        pos += n;
        return new long[] {at, n};
    }

    /** A reader over the current length-delimited field, a nested message. */
    ProtoReader readMessage(String name) {
        long[] span = readBytes(name);
        return new ProtoReader(data, source, path + "/" + name, span[0], span[0] + span[1]);
    }

    /**
     * Decodes the current field as packed (wire type 2) or single (wire type 0) varints into {@code sink}. The packed
     * count is bounded by the bytes present (at least one byte per varint), so the caller can size its arrays from
     * {@link #packedVarintBound} safely.
     */
    void readVarints(String name, LongSink sink) {
        if (wireType == VARINT) {
            sink.accept(varint(name));
            return;
        }
        long[] span = readBytes(name);
        ProtoReader inner = new ProtoReader(data, source, path, span[0], span[0] + span[1]);
        while (inner.pos < inner.end) {
            sink.accept(inner.varint(name));
        }
    }

    /** The current field as packed fixed32 values: {@code {offset, count}}; a single value (wire type 5) too. */
    long[] readPacked32(String name) {
        if (wireType == FIXED32) {
            long at = pos;
            advance(4, name);
            return new long[] {at, 1};
        }
        long[] span = readBytes(name);
        if (span[1] % 4 != 0) {
            throw error(name, span[0], "packed 32-bit field of " + span[1] + " bytes is not a multiple of 4");
        }
        return new long[] {span[0], span[1] / 4};
    }

    long pos() {
        return pos;
    }

    OnnxFormatException error(String name, long offset, String problem) {
        return new OnnxFormatException(source, path + "/" + name, offset, problem);
    }

    private void expect(int type, String name) {
        if (wireType != type) {
            throw error(name, keyOffset, "wire type " + wireType + ", expected " + type);
        }
    }

    private void advance(long n, String name) {
        if (end - pos < n) {
            throw error(name, pos, "needs " + n + " bytes, " + (end - pos) + " left in the message");
        }
        pos += n;
    }

    private long length(String name) {
        long at = pos;
        long n = varint(name);
        if (n < 0 || n > end - pos) {
            throw error(name, at, "length " + Long.toUnsignedString(n) + " exceeds the " + (end - pos)
                    + " bytes left in the message");
        }
        return n;
    }

    private long varint(String name) {
        long at = pos;
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) {
                throw error(name, at, "varint runs past the end of the message");
            }
            byte b = data.get(JAVA_BYTE, pos++);
            if (shift == 63 && (b & 0x7E) != 0) {
                throw error(name, at, "varint overflows 64 bits");
            }
            v |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return v;
            }
        }
        throw error(name, at, "varint longer than 10 bytes");
    }

    /** Receives decoded varints. */
    interface LongSink {
        void accept(long v);
    }
}
