package dev.gale.kernels.gemm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.kernel.Grid;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The one-token GEMV's launch geometry per device. */
public class GemvGeometryTest {
    /** A device with only the capabilities the geometry reads. */
    public static Device device(DeviceType type, long localBytes, long maxGroup) {
        Capabilities c = new Capabilities(type, 132, 1024, 1L << 37, localBytes, maxGroup, true, false, new long[3],
                Map.of());
        return new Device() {
            @Override
            public String id() {
                return type.name().toLowerCase() + ":test";
            }

            @Override
            public String name() {
                return "test";
            }

            @Override
            public String backend() {
                return "test";
            }

            @Override
            public Capabilities capabilities() {
                return c;
            }
        };
    }

    @Test
    void gpusGetAPowerOfTwoGroupPerRowThatFitsTheirLimitAndCpusOneItemPerRow() {
        assertEquals(256, GemvGeometry.groupPerRow(device(DeviceType.GPU, 48 << 10, 1024)));
        assertEquals(128, GemvGeometry.groupPerRow(device(DeviceType.GPU, 48 << 10, 192)));
        assertEquals(0, GemvGeometry.groupPerRow(device(DeviceType.CPU, 2 << 20, 4096)));
        assertEquals(0, GemvGeometry.groupPerRow(device(DeviceType.ACCELERATOR, 2 << 20, 4096)));
        Grid g = GemvGeometry.rowGroups(14336, 256);
        assertEquals(14336, g.numGroups(0));
        assertEquals(256, g.groupItems());
    }
}
