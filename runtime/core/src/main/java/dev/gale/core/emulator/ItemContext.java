package dev.gale.core.emulator;

import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.KernelContext;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/** One emulated work item: its ids, and group operations that go through its {@link WorkGroup}. */
final class ItemContext extends KernelContext {
    private static final VarHandle SEG_INT = ValueLayout.JAVA_INT.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle SEG_FLOAT = ValueLayout.JAVA_FLOAT.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();
    private static final VarHandle INTS = MethodHandles.arrayElementVarHandle(int[].class);
    private static final VarHandle FLOATS = MethodHandles.arrayElementVarHandle(float[].class);

    private final WorkGroup group;
    private final Grid grid;
    private final int[] groupId;
    private final int[] localId;
    private int localsTaken;

    ItemContext(WorkGroup group, Grid grid, int[] groupId, int[] localId) {
        this.group = group;
        this.grid = grid;
        this.groupId = groupId;
        this.localId = localId;
    }

    String describe() {
        int d = grid.dims();
        StringBuilder sb = new StringBuilder("global (");
        for (int i = 0; i < d; i++) {
            sb.append(i == 0 ? "" : ",").append(globalId(i));
        }
        return sb.append(")").toString();
    }

    private static int dim(int d) {
        if (d < 0 || d > 2) {
            throw new IllegalArgumentException("dimension must be 0, 1 or 2, got " + d);
        }
        return d;
    }

    @Override
    public int globalId(int d) {
        return groupId[dim(d)] * grid.localSize(d) + localId[d];
    }

    @Override
    public int localId(int d) {
        return localId[dim(d)];
    }

    @Override
    public int groupId(int d) {
        return groupId[dim(d)];
    }

    @Override
    public int globalSize(int d) {
        return grid.globalSize(dim(d));
    }

    @Override
    public int localSize(int d) {
        return grid.localSize(dim(d));
    }

    @Override
    public int numGroups(int d) {
        return grid.numGroups(dim(d));
    }

    @Override
    public void barrier() {
        group.await(this);
    }

    @Override
    public void globalBarrier() {
        group.await(this);
    }

    @Override
    public float[] localFloats(int size) {
        return (float[]) group.local(this, localsTaken++, float[].class, size);
    }

    @Override
    public int[] localInts(int size) {
        return (int[]) group.local(this, localsTaken++, int[].class, size);
    }

    private static long at(long index, long byteSize) {
        long off = index * 4;
        if (index < 0 || off + 4 > byteSize) {
            throw new IndexOutOfBoundsException("atomic on element " + index + " of a buffer of " + byteSize / 4);
        }
        return off;
    }

    @Override
    public int atomicAdd(I32 b, long i, int v) {
        return (int) SEG_INT.getAndAdd(b.segment(), at(i, b.segment().byteSize()), v);
    }

    @Override
    public int atomicMin(I32 b, long i, int v) {
        long off = at(i, b.segment().byteSize());
        while (true) {
            int old = (int) SEG_INT.getVolatile(b.segment(), off);
            if (old <= v || SEG_INT.compareAndSet(b.segment(), off, old, v)) {
                return old;
            }
        }
    }

    @Override
    public int atomicMax(I32 b, long i, int v) {
        long off = at(i, b.segment().byteSize());
        while (true) {
            int old = (int) SEG_INT.getVolatile(b.segment(), off);
            if (old >= v || SEG_INT.compareAndSet(b.segment(), off, old, v)) {
                return old;
            }
        }
    }

    @Override
    public int atomicCas(I32 b, long i, int expected, int desired) {
        return (int) SEG_INT.compareAndExchange(b.segment(), at(i, b.segment().byteSize()), expected, desired);
    }

    @Override
    public float atomicAdd(F32 b, long i, float v) {
        long off = at(i, b.segment().byteSize());
        while (true) {
            float old = (float) SEG_FLOAT.getVolatile(b.segment(), off);
            if (SEG_FLOAT.compareAndSet(b.segment(), off, old, old + v)) {
                return old;
            }
        }
    }

    @Override
    public int atomicAdd(int[] a, int i, int v) {
        return (int) INTS.getAndAdd(a, i, v);
    }

    @Override
    public int atomicMin(int[] a, int i, int v) {
        while (true) {
            int old = (int) INTS.getVolatile(a, i);
            if (old <= v || INTS.compareAndSet(a, i, old, v)) {
                return old;
            }
        }
    }

    @Override
    public int atomicMax(int[] a, int i, int v) {
        while (true) {
            int old = (int) INTS.getVolatile(a, i);
            if (old >= v || INTS.compareAndSet(a, i, old, v)) {
                return old;
            }
        }
    }

    @Override
    public int atomicCas(int[] a, int i, int expected, int desired) {
        return (int) INTS.compareAndExchange(a, i, expected, desired);
    }

    @Override
    public float atomicAdd(float[] a, int i, float v) {
        while (true) {
            float old = (float) FLOATS.getVolatile(a, i);
            if (FLOATS.compareAndSet(a, i, old, old + v)) {
                return old;
            }
        }
    }
}
