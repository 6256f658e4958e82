package dev.gale.kernels.attention;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A batch of sequences of different lengths for prefill (varlen): sequence {@code s} has {@code qLen(s)} query rows
 * starting at token {@code qStart(s)} of the token-major Q {@code [totalQ][Hq][d]} (and of the output), and
 * {@code kLen(s)} keys starting at token {@code kStart(s)} of K and V {@code [totalK][Hkv][d]} (and of the key-padding
 * mask). A sequence's queries are the last {@code qLen} positions of its {@code kLen} keys, so masks are bottom-right
 * aligned ({@link AttentionSpec}); {@code qLen < kLen} is a chunk of prompt after cached keys.
 *
 * <p>The table form, {@code [qStart, qLen, kStart, kLen]} per sequence, is what the device kernel and the graph op's
 * I32 argument hold.
 */
public final class PrefillBatch {
    /** Ints per sequence in {@link #table()}. */
    public static final int FIELDS = 4;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final int[] table;

    private PrefillBatch(int[] table) {
        check(table, table.length / FIELDS);
        this.table = table;
    }

    /** One sequence: {@code nq} queries against {@code nk} keys, both from token 0. */
    public static PrefillBatch single(int nq, int nk) {
        return new PrefillBatch(new int[] {0, nq, 0, nk});
    }

    /** Sequences packed back to back in Q and in K/V (the usual varlen layout). */
    public static PrefillBatch packed(int[] qLens, int[] kLens) {
        if (qLens.length != kLens.length) {
            throw new IllegalArgumentException("prefill batch: " + qLens.length + " query lengths but "
                    + kLens.length + " key lengths");
        }
        int[] t = new int[qLens.length * FIELDS];
        int q = 0;
        int k = 0;
        for (int s = 0; s < qLens.length; s++) {
            t[s * FIELDS] = q;
            t[s * FIELDS + 1] = qLens[s];
            t[s * FIELDS + 2] = k;
            t[s * FIELDS + 3] = kLens[s];
            q = Math.addExact(q, qLens[s]);
            k = Math.addExact(k, kLens[s]);
        }
        return new PrefillBatch(t);
    }

    /** From a table {@code [qStart, qLen, kStart, kLen]} per sequence (copied). */
    public static PrefillBatch of(int[] table) {
        if (table.length % FIELDS != 0) {
            throw new IllegalArgumentException("prefill batch: table length " + table.length + " is not a multiple of "
                    + FIELDS);
        }
        return new PrefillBatch(table.clone());
    }

    /** Throws unless the first {@code sequences} rows of {@code table} are non-negative starts and lengths. */
    static void check(int[] table, int sequences) {
        if (sequences < 0 || table.length < sequences * FIELDS) {
            throw new IllegalArgumentException("prefill batch: table of " + table.length + " ints cannot hold "
                    + sequences + " sequences");
        }
        for (int s = 0; s < sequences; s++) {
            for (int f = 0; f < FIELDS; f++) {
                if (table[s * FIELDS + f] < 0) {
                    throw new IllegalArgumentException("prefill batch: sequence " + s + " has a negative start or "
                            + "length: " + Arrays.toString(Arrays.copyOfRange(table, s * FIELDS, s * FIELDS + FIELDS)));
                }
            }
            if ((long) table[s * FIELDS] + table[s * FIELDS + 1] > Integer.MAX_VALUE
                    || (long) table[s * FIELDS + 2] + table[s * FIELDS + 3] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("prefill batch: sequence " + s + " ends past 2^31 tokens");
            }
        }
    }

    /** Reads {@code sequences} rows of a table from an I32 segment into {@code into} (no allocation). */
    static void read(MemorySegment seg, int sequences, int[] into) {
        for (int i = 0; i < sequences * FIELDS; i++) {
            into[i] = seg.get(I32, 4L * i);
        }
        check(into, sequences);
    }

    public int sequences() {
        return table.length / FIELDS;
    }

    public int qStart(int s) {
        return table[s * FIELDS];
    }

    public int qLen(int s) {
        return table[s * FIELDS + 1];
    }

    public int kStart(int s) {
        return table[s * FIELDS + 2];
    }

    public int kLen(int s) {
        return table[s * FIELDS + 3];
    }

    /** Query tokens Q and the output must hold: the end of the furthest sequence. */
    public int totalQ() {
        return ends(table, sequences(), 0);
    }

    /** Key tokens K, V and the mask must hold. */
    public int totalK() {
        return ends(table, sequences(), 2);
    }

    public int maxQLen() {
        int m = 0;
        for (int s = 0; s < sequences(); s++) {
            m = Math.max(m, qLen(s));
        }
        return m;
    }

    static int ends(int[] table, int sequences, int field) {
        int end = 0;
        for (int s = 0; s < sequences; s++) {
            end = Math.max(end, table[s * FIELDS + field] + table[s * FIELDS + field + 1]);
        }
        return end;
    }

    /**
     * The (query, key) pairs the causal and window masks leave, summed over sequences (padding not subtracted): the
     * work an exact kernel does per head, {@code 4·d} FLOPs each.
     */
    public long visiblePairs(AttentionSpec spec) {
        long n = 0;
        for (int s = 0; s < sequences(); s++) {
            for (int i = 0; i < qLen(s); i++) {
                int last = spec.lastKey(i, qLen(s), kLen(s));
                n += Math.max(0, last - spec.firstKey(i, qLen(s), kLen(s)) + 1);
            }
        }
        return n;
    }

    /** The table {@code [qStart, qLen, kStart, kLen]} per sequence (a copy). */
    public int[] table() {
        return table.clone();
    }

    /** The table itself, for the kernels of this package (not modified). */
    int[] tableRef() {
        return table;
    }

    /** Writes the table as I32 into {@code seg} at byte 0. */
    public void writeTo(MemorySegment seg) {
        for (int i = 0; i < table.length; i++) {
            seg.set(I32, 4L * i, table[i]);
        }
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("PrefillBatch[");
        for (int s = 0; s < sequences(); s++) {
            b.append(s == 0 ? "" : ", ").append(qLen(s)).append('/').append(kLen(s));
        }
        return b.append(']').toString();
    }
}
