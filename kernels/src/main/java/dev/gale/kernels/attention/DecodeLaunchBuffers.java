package dev.gale.kernels.attention;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.ResidentMemory;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.KernelOp.KernelCall;

/**
 * The host buffers a device decode launch fills each run: the {@link WorkList} (segments, worker starts, tile slots),
 * the partial states, and any small per-run integers (lengths, ring heads, slots). The work list and partials are one
 * set per thread, shared by every decode op the thread runs, grown when a run needs more and otherwise reused, so a
 * decode step does not allocate; the per-run integers are one set per op and thread. Every cache family's partial
 * kernel writes the same partial-state layout, so one {@link #merge} call serves them all.
 *
 * <p>On a device with its own memory ({@link ResidentMemory}) the thread's set is held there: the partial states never
 * cross the bus (the partial kernel writes them, the merge reads them), and the work list goes up only when its
 * contents change, which is once per step, since every layer of a step plans the same work. Elsewhere the launcher
 * copies them around each launch as it does any buffer. The set is per thread, not per op, so what a thread keeps on
 * a device is bounded by one set, however many sessions it runs.
 */
final class DecodeLaunchBuffers {
    private static final int WORK_LIST = 3;
    /** Per thread: segments, worker starts, tile slots, partials; and where they are held. */
    private static final ThreadLocal<Shared> SHARED = ThreadLocal.withInitial(Shared::new);
    private final ThreadLocal<Buffer[]> ints;

    private static final class Shared {
        final Buffer[] b = new Buffer[WORK_LIST + 1];
        ResidentMemory heldIn;
    }

    /** @param extra how many per-run integer buffers the caller uses ({@link #ints} slots 0 … extra − 1) */
    DecodeLaunchBuffers(int extra) {
        ints = ThreadLocal.withInitial(() -> new Buffer[extra]);
    }

    /** The work list and partial states of one launch, in this thread's buffers. */
    record Bound(WorkList list, Buffer segments, Buffer workerStart, Buffer tileSlots, Buffer partials) {
        /** Elements the merge writes: {@code tiles · g · d}, at least 1. */
        int outputs(int g, int d) {
            return Math.max(1, list.tiles() * g * d);
        }
    }

    /**
     * This thread's buffers filled for {@code list}; {@code memory}: the launching device's resident memory, or null
     * where it has none.
     */
    Bound bind(WorkList list, int g, int d, ResidentMemory memory) {
        Shared s = SHARED.get();
        if (s.heldIn != memory) {
            for (Buffer b : s.b) {
                if (b != null && s.heldIn != null) {
                    s.heldIn.release(b);
                }
                if (b != null && memory != null) {
                    memory.hold(b);
                }
            }
            s.heldIn = memory;
        }
        Buffer segments = fill(s, 0, "decode.segments", list.segments());
        Buffer workerStart = fill(s, 1, "decode.workerStart", list.workerStart());
        Buffer tileSlots = fill(s, 2, "decode.tileSlots", list.tileSlots());
        long partialFloats = Math.max(1L, (long) list.slots() * g * (d + 2));
        Buffer partials = ensure(s, WORK_LIST, "decode.partials", DType.F32, partialFloats);
        return new Bound(list, segments, workerStart, tileSlots, partials);
    }

    /** {@code values} in this op's per-run integer buffer {@code slot} (I32, at least one element). */
    Buffer ints(int slot, String name, int... values) {
        Buffer[] b = ints.get();
        if (b[slot] == null || b[slot].length() < Math.max(1, values.length)) {
            if (b[slot] != null) {
                b[slot].close();
            }
            b[slot] = Buffers.allocate(name, DType.I32, Math.max(1, values.length));
        }
        for (int j = 0; j < values.length; j++) {
            b[slot].setInt(j, values[j]);
        }
        return b[slot];
    }

    /**
     * The shared merge of the partial states into {@code out} ({@code [tiles][g][d]} F32), over {@code grid}: one
     * item per output element ({@link Bound#outputs}), in the caller's launch geometry.
     */
    static KernelCall merge(Bound b, Buffer out, int g, int d, Grid grid) {
        return new KernelCall(DecodeKernels.class, "merge", grid, b.tileSlots(), b.partials(), out, b.list().tiles(),
                g, d);
    }

    /** Writes {@code values} where they differ; a held buffer whose values changed goes up to the device now. */
    private static Buffer fill(Shared s, int i, String name, int[] values) {
        Buffer b = ensure(s, i, name, DType.I32, Math.max(1, values.length));
        boolean changed = false;
        for (int j = 0; j < values.length; j++) {
            if (b.getInt(j) != values[j]) {
                b.setInt(j, values[j]);
                changed = true;
            }
        }
        if (changed && s.heldIn != null) {
            s.heldIn.toDevice(b);
        }
        return b;
    }

    private static Buffer ensure(Shared s, int i, String name, DType dtype, long n) {
        Buffer b = s.b[i];
        if (b == null || b.length() < n) {
            if (b != null) {
                if (s.heldIn != null) {
                    s.heldIn.release(b);
                }
                b.close();
            }
            b = Buffers.allocate(name, dtype, n);
            s.b[i] = b;
            if (s.heldIn != null) {
                s.heldIn.hold(b);
            }
        }
        return b;
    }
}
