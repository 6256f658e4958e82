package dev.gale.kernels.attention;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp.KernelCall;

/**
 * The host buffers a device decode launch fills each run: the {@link WorkList} (segments, worker starts, tile slots),
 * the partial states, and any small per-run integers (lengths, ring heads, slots). One set per thread, grown when a
 * run needs more and otherwise reused, so a decode step does not allocate; the kernel launcher keeps one device
 * mirror per host buffer, so reuse also spares the device side. Every cache family's partial kernel writes the same
 * partial-state layout, so one {@link #merge} call serves them all.
 */
final class DecodeLaunchBuffers {
    /** Buffers 0–3: the work list and the partials; from 4 on: the caller's per-run integers. */
    private static final int FIXED = 4;
    private final ThreadLocal<Buffer[]> scratch;

    /** @param extra how many per-run integer buffers the caller uses ({@link #ints} slots 0 … extra − 1) */
    DecodeLaunchBuffers(int extra) {
        scratch = ThreadLocal.withInitial(() -> new Buffer[FIXED + extra]);
    }

    /** The work list and partial states of one launch, in this thread's buffers. */
    record Bound(WorkList list, Buffer segments, Buffer workerStart, Buffer tileSlots, Buffer partials) {
        /** Elements the merge writes: {@code tiles · g · d}, at least 1. */
        int outputs(int g, int d) {
            return Math.max(1, list.tiles() * g * d);
        }
    }

    Bound bind(WorkList list, int g, int d) {
        Buffer[] b = scratch.get();
        Buffer segments = fill(b, 0, "decode.segments", list.segments());
        Buffer workerStart = fill(b, 1, "decode.workerStart", list.workerStart());
        Buffer tileSlots = fill(b, 2, "decode.tileSlots", list.tileSlots());
        long partialFloats = Math.max(1L, (long) list.slots() * g * (d + 2));
        if (b[3] == null || b[3].length() < partialFloats) {
            if (b[3] != null) {
                b[3].close();
            }
            b[3] = Buffers.allocate("decode.partials", DType.F32, partialFloats);
        }
        return new Bound(list, segments, workerStart, tileSlots, b[3]);
    }

    /** {@code values} in this thread's per-run integer buffer {@code slot} (I32, at least one element). */
    Buffer ints(int slot, String name, int... values) {
        return fill(scratch.get(), FIXED + slot, name, values);
    }

    /**
     * The shared merge of the partial states into {@code out} ({@code [tiles][g][d]} F32), over {@code grid}: one
     * item per output element ({@link Bound#outputs}), in the caller's launch geometry.
     */
    static KernelCall merge(Bound b, Buffer out, int g, int d, Grid grid) {
        return new KernelCall(DecodeKernels.class, "merge", grid, b.tileSlots(), b.partials(), out, b.list().tiles(),
                g, d);
    }

    private static Buffer fill(Buffer[] b, int i, String name, int[] values) {
        if (b[i] == null || b[i].length() < Math.max(1, values.length)) {
            if (b[i] != null) {
                b[i].close();
            }
            b[i] = Buffers.allocate(name, DType.I32, Math.max(1, values.length));
        }
        for (int j = 0; j < values.length; j++) {
            b[i].setInt(j, values[j]);
        }
        return b[i];
    }
}
