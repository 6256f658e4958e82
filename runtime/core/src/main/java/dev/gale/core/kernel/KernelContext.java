package dev.gale.core.kernel;

/**
 * What a work item knows about the grid and can do with its work group, in OpenCL terms. Kernels receive one as a
 * parameter; on a device every call becomes a built-in, on the JVM the {@code dev.gale.core.emulator.Emulator}
 * supplies an implementation with exact semantics.
 *
 * <p>Dimension arguments must be the literals 0, 1 or 2. Ids are {@code int}s.
 *
 * <table>
 * <caption>Device mapping</caption>
 * <tr><th>Java</th><th>OpenCL C</th><th>CUDA C</th></tr>
 * <tr><td>globalId(d)</td><td>get_global_id(d)</td><td>blockIdx.d * blockDim.d + threadIdx.d</td></tr>
 * <tr><td>localId(d)</td><td>get_local_id(d)</td><td>threadIdx.d</td></tr>
 * <tr><td>groupId(d)</td><td>get_group_id(d)</td><td>blockIdx.d</td></tr>
 * <tr><td>globalSize(d)</td><td>get_global_size(d)</td><td>gridDim.d * blockDim.d</td></tr>
 * <tr><td>localSize(d)</td><td>get_local_size(d)</td><td>blockDim.d</td></tr>
 * <tr><td>numGroups(d)</td><td>get_num_groups(d)</td><td>gridDim.d</td></tr>
 * <tr><td>barrier()</td><td>barrier(CLK_LOCAL_MEM_FENCE)</td><td>__syncthreads()</td></tr>
 * <tr><td>globalBarrier()</td><td>barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)</td><td>__syncthreads()</td></tr>
 * <tr><td>localFloats(n)</td><td>__local float t[n]</td><td>__shared__ float t[n]</td></tr>
 * <tr><td>atomicAdd/Min/Max/Cas on I32 or int[]</td><td>atomic_add/min/max/cmpxchg</td><td>atomicAdd/Min/Max/CAS</td></tr>
 * <tr><td>atomicAdd on F32 or float[]</td><td>loop on atomic_cmpxchg</td><td>atomicAdd (float)</td></tr>
 * </table>
 *
 * <p>Barriers synchronise one work group only; there is no grid-wide barrier. Every item of a group must reach the
 * same barrier calls (the emulator reports divergence as an error). Atomics return the previous value.
 */
public abstract class KernelContext {
    protected KernelContext() {
    }

    public abstract int globalId(int dim);

    public abstract int localId(int dim);

    public abstract int groupId(int dim);

    public abstract int globalSize(int dim);

    public abstract int localSize(int dim);

    public abstract int numGroups(int dim);

    /** Work-group barrier with a local-memory fence. */
    public abstract void barrier();

    /** Work-group barrier that also fences global memory (still one work group only). */
    public abstract void globalBarrier();

    /**
     * A work-group local {@code float} array, shared by the items of the group. In kernels: only as the initializer
     * of a local variable at the top level of the kernel body, with a size built from literals, constants and
     * {@link Const} parameters. Its contents start undefined on devices (zero on the JVM).
     */
    public abstract float[] localFloats(int size);

    /** A work-group local {@code int} array; see {@link #localFloats}. */
    public abstract int[] localInts(int size);

    public abstract int atomicAdd(I32 buffer, long index, int value);

    public abstract int atomicMin(I32 buffer, long index, int value);

    public abstract int atomicMax(I32 buffer, long index, int value);

    /** Stores {@code desired} if the element equals {@code expected}; returns the element's previous value. */
    public abstract int atomicCas(I32 buffer, long index, int expected, int desired);

    /** Float add by compare-and-swap of the bits; returns the previous value. */
    public abstract float atomicAdd(F32 buffer, long index, float value);

    public abstract int atomicAdd(int[] local, int index, int value);

    public abstract int atomicMin(int[] local, int index, int value);

    public abstract int atomicMax(int[] local, int index, int value);

    public abstract int atomicCas(int[] local, int index, int expected, int desired);

    public abstract float atomicAdd(float[] local, int index, float value);
}
