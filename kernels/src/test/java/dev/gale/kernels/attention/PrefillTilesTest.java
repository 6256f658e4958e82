package dev.gale.kernels.attention;

import static dev.gale.kernels.gemm.GemvGeometryTest.device;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.device.DeviceType;
import org.junit.jupiter.api.Test;

/** The prefill kernels' tiles per device: the largest pair whose staging fits the device's local memory. */
class PrefillTilesTest {
    @Test
    void prefillTilesFitTheDevicesLocalMemory() {
        // 64x32 at d = 64 stages 57,984 bytes: over a CUDA block's 48 KiB of static shared memory.
        assertEquals(57_984, PrefillTiles.stagedBytes(64, 32, 64));
        assertEquals(new PrefillTiles(32, 32), PrefillTiles.of(device(DeviceType.GPU, 48 << 10, 1024), 64));
        assertEquals(PrefillTiles.DEFAULT, PrefillTiles.of(device(DeviceType.CPU, 2 << 20, 4096), 128));
        for (int d : new int[] {32, 64, 80, 96, 128}) {
            PrefillTiles t = PrefillTiles.of(device(DeviceType.GPU, 48 << 10, 1024), d);
            assertTrue(PrefillTiles.stagedBytes(t.br(), t.bc(), d) <= 48 << 10, d + ": " + t);
        }
        assertThrows(IllegalArgumentException.class, () -> PrefillTiles.of(device(DeviceType.GPU, 1024, 1024), 128));
    }
}
