package dev.gale.kernels.gemm;

import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.kernel.Grid;

/**
 * Which launch geometry a one-token GEMV takes on a device. A CPU OpenCL device (PoCL) runs a work group's items one
 * after another on one core, so one item per output row, summing its row in registers, is fastest there. A GPU runs
 * a warp's 32 items in lockstep: one item per row makes neighbouring items read addresses a whole row apart, and the
 * H200 ran those kernels at 2-5% of its read bandwidth. There a work group per row, its items reading contiguous
 * elements, is the shape that coalesces.
 */
public final class GemvGeometry {
    /** Items per row on a GPU: eight warps, enough loads in flight per row; a power of two for the halving sum. */
    public static final int GPU_GROUP = 256;

    private GemvGeometry() {
    }

    /** The work-group size per row for {@code device}, or 0 for one item per row. */
    public static int groupPerRow(Device device) {
        Capabilities c = device.capabilities();
        if (c.type() != DeviceType.GPU) {
            return 0;
        }
        int g = GPU_GROUP;
        while (g > 8 && g > c.maxWorkGroupSize()) {
            g /= 2;
        }
        return g;
    }

    /** The geometry in words, for plans and run reports. */
    public static String describe(int group) {
        return group > 0 ? "(" + group + " items per row)" : "(one item per row)";
    }

    /** {@code rows} work groups of {@code group} items. */
    public static Grid rowGroups(int rows, int group) {
        return Grid.of1(rows * group, group);
    }
}
