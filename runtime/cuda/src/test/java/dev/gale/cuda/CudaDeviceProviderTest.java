package dev.gale.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.device.Devices;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CUDA backend on whatever machine runs the tests. Without an NVIDIA driver (CI) the provider has no devices and
 * says which library it missed; with one, every device reports a compute capability and a working NVRTC. Kernels on
 * a CUDA device are checked by the cross-device suite ({@code gale check}), which adds a column per device.
 */
class CudaDeviceProviderTest {
    @TempDir
    Path dir;

    @Test
    void theProviderIsFoundAndEitherListsDevicesOrSaysWhy() {
        CudaDeviceProvider p = (CudaDeviceProvider) Devices.providers().stream()
                .filter(x -> x.backend().equals("cuda")).findFirst().orElseThrow();
        List<Device> devices = p.devices();
        if (devices.isEmpty()) {
            assertNotNull(p.unavailableReason(), "no devices and no reason");
            assertTrue(p.unavailableReason().contains("libcuda") || p.unavailableReason().contains("NVRTC")
                    || p.unavailableReason().contains("no device"), p.unavailableReason());
        } else {
            assertNull(p.unavailableReason());
            for (Device d : devices) {
                CudaDevice c = (CudaDevice) d;
                assertEquals("cuda:" + devices.indexOf(d), d.id());
                assertEquals(DeviceType.GPU, d.capabilities().type());
                assertTrue(c.computeCapabilityMajor() >= 3, "compute capability " + c.computeCapabilityMajor());
                assertTrue(d.capabilities().maxWorkGroupSize() >= 256);
                assertNotNull(d.kernelRunner());
            }
            assertTrue(CudaDeviceProvider.compilerDescription().startsWith("NVRTC "));
        }
    }

    @Test
    void aLibraryThatIsNotThereIsNamedWithEveryPlaceTried() {
        Path empty = dir.resolve("lib");
        CudaException e = assertThrows(CudaException.class, () -> NativeLibrary.open("NVRTC", "gale.test.none",
                List.of("libgale-test-absent.so.7"), "libgale-test-absent.so", List.of(empty)));
        assertTrue(e.getMessage().contains("libgale-test-absent.so.7"), e.getMessage());
        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("-Dgale.test.none"), e.getMessage());
    }

    @Test
    void aFileThatIsNotALibraryIsRefusedNotLoaded() throws Exception {
        Path bogus = Files.writeString(dir.resolve("libgale-bogus.so.1"), "not an ELF file");
        CudaException e = assertThrows(CudaException.class, () -> NativeLibrary.open("NVRTC", "gale.test.none",
                List.of(), "libgale-bogus.so", List.of(dir)));
        assertTrue(e.getMessage().contains(bogus.toString()), e.getMessage());
    }

    @Test
    void optionsTargetTheDevicesOwnArchitectureThenTheKernels() {
        assertEquals(List.of("--gpu-architecture=sm_90", "--fmad=false"), Nvrtc.options(9, 0, " --fmad=false "));
        assertEquals(List.of("--gpu-architecture=sm_86"), Nvrtc.options(8, 6, ""));
        assertFalse(Nvrtc.options(10, 0, "").isEmpty());
    }
}
