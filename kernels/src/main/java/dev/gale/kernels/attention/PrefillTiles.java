package dev.gale.kernels.attention;

import dev.gale.core.device.Device;
import dev.gale.core.kernel.Grid;

/**
 * The query-block and key-block sizes of the device prefill kernels ({@link PrefillKernels}) for one device and head
 * dimension. The kernels stage {@code 2·bc·d + 2·br·d + br·bc + 2·br + bc} floats in local memory: at the preferred
 * 64×32 and d = 64 that is 57 KB, more than the 48 KB a CUDA block may declare statically (an H200 refused it at
 * build time), while PoCL offers megabytes. So the largest pair that fits the device's local memory is taken.
 *
 * @param br query rows per work group (also its item count)
 * @param bc keys per staged block
 */
public record PrefillTiles(int br, int bc) {
    /** Preferred first; every pair keeps {@code br} a multiple of 8 items. */
    private static final int[][] CANDIDATES = {{64, 32}, {32, 32}, {32, 16}, {16, 16}, {16, 8}, {8, 8}};

    /** The tiles the CPU paths and the emulator use, and the largest any device gets. */
    public static final PrefillTiles DEFAULT = new PrefillTiles(PrefillAttentionOp.BR, PrefillAttentionOp.BC);

    /** The first candidate whose staging fits {@code device}'s local memory at head dimension {@code d}. */
    public static PrefillTiles of(Device device, int d) {
        long local = device.capabilities().localMemoryBytes();
        for (int[] c : CANDIDATES) {
            if (stagedBytes(c[0], c[1], d) <= local) {
                return new PrefillTiles(c[0], c[1]);
            }
        }
        throw new IllegalArgumentException("prefill attention at head dimension " + d + " needs "
                + stagedBytes(8, 8, d) + " bytes of local memory even at 8x8 tiles; " + device.id() + " has "
                + local);
    }

    /** Local memory the kernels declare for these tiles. */
    public static long stagedBytes(int br, int bc, int d) {
        return 4L * (2L * bc * d + 2L * br * d + (long) br * bc + 2L * br + bc);
    }

    /** The kernels' geometry for queries up to {@code maxQueryLen} per sequence. */
    public Grid grid(int maxQueryLen, int heads, int sequences) {
        int blocks = (maxQueryLen + br - 1) / br;
        return new Grid(new int[] {Math.multiplyExact(blocks, br), heads, sequences}, new int[] {br, 1, 1});
    }
}
