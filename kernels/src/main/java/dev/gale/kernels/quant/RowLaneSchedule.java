package dev.gale.kernels.quant;

import dev.gale.core.cpu.WorkerPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * How a GEMV over the row-lane layout ({@link RowLaneKernel}: groups of {@link #R} rows, one row per 16-bit lane)
 * splits its groups over threads and calls, shared by {@link RowLaneGemv} (Q4_0 and Q8_0 on Q8 activations) and
 * {@link W4Packed} (W4A4/W4A8), which supply the four-group kernel ({@link #kernel4}) for their operand {@code O}
 * and its scalar twin ({@link #rowScalar}).
 *
 * <p>Every whole group runs in {@link #kernel4} beside three others, groups i, q + i, 2q + i and 3q + i of a range of
 * 4q, so the weights arrive as four memory streams: one stream per thread reads at about half the read probe's speed
 * here, and four took {@code DecodeGemvSweep}'s Q4_0 step from 0.54–0.57 to 0.67 of the probe loop's time
 * (2026-11-28). A range's last one to three groups run as a quad that repeats its last group, and a group only part
 * of whose rows are wanted runs alone, repeated four times, into per-thread scratch: the repeats read the same lines
 * from L1, and every row's sum comes from one kernel, so the pool, a row range and the scalar path give the same
 * bits. Several tokens run each quad once per token while its weights sit in L2. Where the vector kernels do not run
 * every row goes through {@link #rowScalar}.
 */
abstract sealed class RowLaneSchedule<O> permits RowLaneGemv, W4Packed {
    /** Rows per group: the 16-bit lanes of a vector ({@link RowLaneKernel#R}). */
    static final int R = RowLaneKernel.R;
    /** Per thread running the kernel: a cut group's outputs, all R of them. */
    private static final ThreadLocal<MemorySegment> PARTIAL = ThreadLocal.withInitial(
            () -> Arena.global().allocate(4L * R, 64));

    final int rows;
    final int in;
    /** Blocks per row (each with one scale per row). */
    final int nb;
    final int groups;
    /** Bytes of one group-block. */
    final long gb;
    final MemorySegment blocks;

    RowLaneSchedule(int rows, int in, int nb, long gb, MemorySegment blocks) {
        this.rows = rows;
        this.in = in;
        this.nb = nb;
        this.groups = (rows + R - 1) / R;
        this.gb = gb;
        this.blocks = blocks;
    }

    /**
     * Groups at byte offsets {@code oa} .. {@code od} of {@link #blocks} · token {@code t} of {@code op}; each
     * group's R outputs go to {@code ya} .. {@code yd} of {@code y}.
     */
    abstract void kernel4(O op, int t, long oa, long ob, long oc, long od, MemorySegment y, long ya, long yb,
            long yc, long yd);

    /** Row {@code row}'s output for token {@code t}, in plain Java with the kernel's bits. */
    abstract float rowScalar(O op, int t, int row);

    public int rows() {
        return rows;
    }

    public int in() {
        return in;
    }

    /** Bytes the kernel streams per GEMV (codes and scales, padding included). */
    public long byteSize() {
        return blocks.byteSize();
    }

    /** All rows: whole groups over the pool, at least {@link RowLaneKernel#STREAMS} per chunk; then the cut group. */
    final void parallel(O op, int tokens, MemorySegment y, long yOff) {
        if (!QuantVectors.VECTOR_OK) {
            WorkerPool.shared().parallelForBalanced(rows, R, (s, e) -> scalarRows(op, tokens, y, yOff, s, e));
            return;
        }
        int whole = rows / R;
        int grain = Math.max(RowLaneKernel.STREAMS, BlockMatmul.grain(in, tokens) * 4 / R);
        WorkerPool.shared().parallelForBalanced(whole, grain, (s, e) -> quads(op, tokens, y, yOff, s, e));
        if (whole < groups) {
            cut(op, tokens, y, yOff, R * whole, rows);
        }
    }

    /** Rows {@code [rowStart, rowEnd)} on the calling thread, whole groups as {@link #parallel} runs them. */
    final void range(O op, int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        if (!QuantVectors.VECTOR_OK) {
            scalarRows(op, tokens, y, yOff, rowStart, rowEnd);
            return;
        }
        int g0 = (rowStart + R - 1) / R;
        int g1 = rowEnd / R;
        if (g0 >= g1) {
            cut(op, tokens, y, yOff, rowStart, rowEnd);
            return;
        }
        cut(op, tokens, y, yOff, rowStart, R * g0);
        quads(op, tokens, y, yOff, g0, g1);
        cut(op, tokens, y, yOff, R * g1, rowEnd);
    }

    /**
     * Whole groups {@code [g0, g1)}: group {@code g0 + i} beside {@code g0 + q + i}, {@code g0 + 2q + i} and
     * {@code g0 + 3q + i}; the last one to three groups as one quad that repeats its last group.
     */
    private void quads(O op, int tokens, MemorySegment y, long yOff, int g0, int g1) {
        int q = (g1 - g0) / 4;
        for (int i = 0; i < q; i++) {
            int ga = g0 + i;
            four(op, tokens, y, yOff, ga, ga + q, ga + 2 * q, ga + 3 * q);
        }
        int rest = g0 + 4 * q;
        if (rest < g1) {
            int last = g1 - 1;
            four(op, tokens, y, yOff, rest, Math.min(rest + 1, last), Math.min(rest + 2, last), last);
        }
    }

    /** Groups {@code ga .. gd} through {@link #kernel4}, token by token, each writing its rows of {@code y}. */
    private void four(O op, int tokens, MemorySegment y, long yOff, int ga, int gb4, int gc, int gd) {
        long step = (long) nb * gb;
        for (int t = 0; t < tokens; t++) {
            long yt = yOff + 4L * ((long) t * rows);
            kernel4(op, t, ga * step, gb4 * step, gc * step, gd * step, y, yt + 4L * R * ga, yt + 4L * R * gb4,
                    yt + 4L * R * gc, yt + 4L * R * gd);
        }
    }

    /** Rows {@code [rowStart, rowEnd)}, group by group, each group run whole into scratch and its wanted rows copied. */
    private void cut(O op, int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        if (rowStart >= rowEnd) {
            return;
        }
        MemorySegment partial = PARTIAL.get();
        for (int g = rowStart / R; R * g < rowEnd; g++) {
            int k0 = Math.max(rowStart, R * g) - R * g;
            int k1 = Math.min(rowEnd, R * g + R) - R * g;
            long o = (long) g * nb * gb;
            for (int t = 0; t < tokens; t++) {
                kernel4(op, t, o, o, o, o, partial, 0, 0, 0, 0);
                MemorySegment.copy(partial, 4L * k0, y, yOff + 4L * ((long) t * rows + (long) R * g + k0),
                        4L * (k1 - k0));
            }
        }
    }

    private void scalarRows(O op, int tokens, MemorySegment y, long yOff, int rowStart, int rowEnd) {
        for (int r = rowStart; r < rowEnd; r++) {
            for (int t = 0; t < tokens; t++) {
                y.set(QuantVectors.F32, yOff + 4L * ((long) t * rows + r), rowScalar(op, t, r));
            }
        }
    }
}
