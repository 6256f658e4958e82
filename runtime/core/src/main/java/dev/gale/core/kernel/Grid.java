package dev.gale.core.kernel;

import java.util.Arrays;

/**
 * A 1-3 dimensional launch geometry in OpenCL convention: {@code global} work items in total per dimension, in work
 * groups of {@code local} items. Every global size must be a positive multiple of its local size (OpenCL 1.2 and CUDA
 * grids both need that), and a dimension's size must fit an {@code int} because ids are {@code int}s in kernels.
 */
public record Grid(int[] global, int[] local) {
    public Grid {
        global = global.clone();
        local = local.clone();
        if (global.length < 1 || global.length > 3 || local.length != global.length) {
            throw new IllegalArgumentException("a grid has 1-3 dimensions with a local size for each; got global "
                    + Arrays.toString(global) + " and local " + Arrays.toString(local));
        }
        for (int d = 0; d < global.length; d++) {
            if (global[d] <= 0 || local[d] <= 0 || global[d] % local[d] != 0) {
                throw new IllegalArgumentException("grid dimension " + d + ": global size " + global[d]
                        + " must be a positive multiple of the local size " + local[d]);
            }
        }
    }

    public static Grid of1(int global, int local) {
        return new Grid(new int[] {global}, new int[] {local});
    }

    public static Grid of2(int globalX, int globalY, int localX, int localY) {
        return new Grid(new int[] {globalX, globalY}, new int[] {localX, localY});
    }

    public int dims() {
        return global.length;
    }

    /** Global size in dimension {@code d}; 1 for dimensions beyond {@link #dims()}, as on devices. */
    public int globalSize(int d) {
        return d < global.length ? global[d] : 1;
    }

    public int localSize(int d) {
        return d < local.length ? local[d] : 1;
    }

    public int numGroups(int d) {
        return globalSize(d) / localSize(d);
    }

    public int groupItems() {
        return localSize(0) * localSize(1) * localSize(2);
    }

    public long[] globalLong() {
        return Arrays.stream(global).asLongStream().toArray();
    }

    public long[] localLong() {
        return Arrays.stream(local).asLongStream().toArray();
    }

    @Override
    public int[] global() {
        return global.clone();
    }

    @Override
    public int[] local() {
        return local.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Grid g && Arrays.equals(global, g.global) && Arrays.equals(local, g.local);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(global) * 31 + Arrays.hashCode(local);
    }

    @Override
    public String toString() {
        return "Grid" + Arrays.toString(global) + "/" + Arrays.toString(local);
    }
}
