package dev.gale.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelArgumentException;
import dev.gale.kernels.activation.ActivationKernels;
import dev.gale.kernels.norm.NormKernels;
import dev.gale.opencl.KernelLauncher;
import dev.gale.opencl.OpenClDevice;
import dev.gale.opencl.OpenClDeviceProvider;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Assumptions;

/** The launcher's argument checks and per-session caches, on the first OpenCL device. */
class KernelLauncherTest {
    private static KernelLauncher launcher;

    @BeforeAll
    static void open() {
        OpenClDeviceProvider p = new OpenClDeviceProvider();
        List<Device> devices = p.devices();
        if (devices.isEmpty()) {
            String why = "no OpenCL device: " + p.unavailableReason();
            if ("1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
                fail(why + " (GALE_REQUIRE_OPENCL=1 makes this a failure)");
            }
            Assumptions.abort(why);
        }
        launcher = KernelLauncher.open((OpenClDevice) devices.getFirst());
    }

    @AfterAll
    static void close() {
        if (launcher != null) {
            launcher.close();
        }
    }

    @Test
    void repeatedLaunchesReuseTheKernelAndTheMirrors() {
        try (Buffer a = Buffers.f32("a", 1, 2, 3); Buffer b = Buffers.f32("b", 10, 20, 30);
             Buffer out = Buffers.allocate("out", DType.F32, 3)) {
            int kernels = -1;
            int mirrors = -1;
            for (int round = 0; round < 3; round++) {
                a.setFloat(0, round);
                long nanos = launcher.launch(ActivationKernels.class, "residualAdd", Map.of(), Grid.of1(64, 64), a, b,
                        out, 3);
                assertTrue(nanos > 0, "profiled device time");
                assertEquals(round + 10f, out.getFloat(0));
                assertEquals(22f, out.getFloat(1));
                assertEquals(33f, out.getFloat(2));
                if (round == 0) {
                    kernels = launcher.cachedKernels();
                    mirrors = launcher.cachedMirrors();
                } else {
                    assertEquals(kernels, launcher.cachedKernels(), "no new kernel object");
                    assertEquals(mirrors, launcher.cachedMirrors(), "no new mirror");
                }
            }
            launcher.forget(a);
            assertEquals(mirrors - 1, launcher.cachedMirrors());
        }
    }

    @Test
    void misalignedBuffersGoThroughCopiesBothWays() {
        try (Buffer a = Buffers.f32("a", 0, 1, 2, 3, 4); Buffer b = Buffers.f32("b", 0, 10, 20, 30, 40);
             Buffer out = Buffers.allocate("out", DType.F32, 5)) {
            // one float past a 64-byte boundary: no zero-copy wrapping, so write/read copy explicitly
            Buffer as = a.slice(1, 4);
            Buffer bs = b.slice(1, 4);
            Buffer os = out.slice(1, 4);
            for (int round = 1; round <= 2; round++) {
                as.setFloat(0, round);
                launcher.launch(ActivationKernels.class, "residualAdd", Map.of(), Grid.of1(64, 64), as, bs, os, 4);
                assertEquals(0f, out.getFloat(0));
                assertEquals(10f + round, out.getFloat(1));
                assertEquals(22f, out.getFloat(2));
                assertEquals(44f, out.getFloat(4));
            }
            launcher.forget(as);
            launcher.forget(bs);
            launcher.forget(os);
        }
    }

    @Test
    void aReadOnlyBufferIsCopiedToTheDeviceOnce() {
        try (Buffer a = Buffers.f32("a", 0, 1, 2, 3, 4); Buffer b = Buffers.f32("b", 0, 10, 20, 30, 40);
             Buffer out = Buffers.allocate("out", DType.F32, 5)) {
            // misaligned, so copied rather than wrapped even on a device that shares host memory
            Buffer as = a.slice(1, 4);
            Buffer bs = b.slice(1, 4).readOnly();
            Buffer os = out.slice(1, 4);
            long before = launcher.uploads();
            for (int round = 1; round <= 3; round++) {
                as.setFloat(0, round);
                launcher.launch(ActivationKernels.class, "residualAdd", Map.of(), Grid.of1(64, 64), as, bs, os, 4);
                assertEquals(10f + round, out.getFloat(1), "the writable input is copied each launch");
                assertEquals(44f, out.getFloat(4));
                // round 1 copies both inputs; later rounds only the writable one
                assertEquals(round + 1, launcher.uploads() - before, "uploads after round " + round);
            }
            launcher.forget(as);
            launcher.forget(bs);
            launcher.forget(os);
        }
    }

    @Test
    void eachConstantValueIsItsOwnVariant() {
        try (Buffer x = Buffers.f32("x", 3, 4); Buffer w = Buffers.f32("w", 1, 1);
             Buffer out = Buffers.allocate("out", DType.F32, 2)) {
            int before = launcher.cachedKernels();
            for (int group : new int[] {1, 8, 1}) {
                launcher.launch(NormKernels.class, "rmsNorm", Map.of("group", group), Grid.of1(group, group), x, w,
                        out, 2, 0f);
                float scale = (float) (1 / Math.sqrt(12.5));
                assertEquals(3 * scale, out.getFloat(0), 1e-6f);
                assertEquals(4 * scale, out.getFloat(1), 1e-6f);
            }
            assertEquals(before + 2, launcher.cachedKernels());
            // the emulator-style argument list (constants in place) reaches the same variant
            launcher.launchInline(NormKernels.class, "rmsNorm", Grid.of1(8, 8), x, w, out, 2, 0f, 8);
            assertEquals(before + 2, launcher.cachedKernels());
        }
    }

    @Test
    void argumentsAreCheckedAgainstTheDescriptor() {
        try (Buffer x = Buffers.f32("x", 1, 2); Buffer i32 = Buffers.allocate("ints", DType.I32, 2);
             Buffer out = Buffers.allocate("out", DType.F32, 2)) {
            Grid g = Grid.of1(64, 64);
            KernelArgumentException e = assertThrows(KernelArgumentException.class,
                    () -> launcher.launch(ActivationKernels.class, "silu", Map.of(), g, i32, out, 2));
            assertEquals("x", e.parameter());
            assertTrue(e.getMessage().contains("needs a F32 buffer, 'ints' is I32"), e.getMessage());

            e = assertThrows(KernelArgumentException.class,
                    () -> launcher.launch(ActivationKernels.class, "silu", Map.of(), g, x, out, 2L));
            assertEquals("n", e.parameter());

            e = assertThrows(KernelArgumentException.class,
                    () -> launcher.launch(ActivationKernels.class, "silu", Map.of(), g, x, out));
            assertNull(e.parameter());
            assertTrue(e.getMessage().contains("takes 3 device arguments"), e.getMessage());

            e = assertThrows(KernelArgumentException.class,
                    () -> launcher.launch(ActivationKernels.class, "softmax", Map.of(), g, x, out, 2, 1f));
            assertEquals("group", e.parameter());

            e = assertThrows(KernelArgumentException.class,
                    () -> launcher.launch(ActivationKernels.class, "silu", Map.of("group", 8), g, x, out, 2));
            assertEquals("group", e.parameter());

            e = assertThrows(KernelArgumentException.class,
                    () -> launcher.launch(ActivationKernels.class, "softmax", Map.of("group", 8), g, x, out, 2, 1.0));
            assertEquals("scale", e.parameter());

            e = assertThrows(KernelArgumentException.class,
                    () -> launcher.launch(ActivationKernels.class, "silu", Map.of(), g, x, null, 2));
            assertEquals("out", e.parameter());

            long tooMany = launcher.context().device().capabilities().maxWorkGroupSize() * 2;
            e = assertThrows(KernelArgumentException.class, () -> launcher.launch(ActivationKernels.class, "silu",
                    Map.of(), Grid.of1((int) tooMany, (int) tooMany), x, out, 2));
            assertTrue(e.getMessage().contains("exceed the device's limit"), e.getMessage());
        }
        Buffer closed = Buffers.f32("gone", 1, 2);
        closed.close();
        try (Buffer out = Buffers.allocate("out", DType.F32, 2)) {
            KernelArgumentException e = assertThrows(KernelArgumentException.class, () -> launcher.launch(
                    ActivationKernels.class, "silu", Map.of(), Grid.of1(64, 64), closed, out, 2));
            assertTrue(e.getMessage().contains("'gone' is closed"), e.getMessage());
        }
    }
}
