package dev.gale.opencl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OpenClContextTest {
    private static final String VADD = """
            __kernel void vadd(__global const float* a, __global const float* b, __global float* c, int n) {
                int i = get_global_id(0);
                if (i < n) {
                    c[i] = a[i] + b[i];
                }
            }
            """;

    @TempDir
    static Path cacheDir;

    @BeforeAll
    static void isolateTheDiskCache() {
        System.setProperty("gale.opencl.cacheDir", cacheDir.toString());
    }

    @Test
    void addsVectorsOnSharedAndCopiedMemory() {
        OpenClDevice dev = OpenClTestDevices.first();
        int n = 1000;
        float[] a = new float[n];
        float[] b = new float[n];
        float[] want = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = i * 0.5f;
            b[i] = 1000 - i;
            want[i] = a[i] + b[i];
        }
        try (ClContext ctx = ClContext.create(dev); Buffer ha = Buffers.f32("a", a); Buffer hb = Buffers.f32("b", b);
             Buffer hc = Buffers.allocate("c", DType.F32, n)) {
            ClKernel k = ctx.program(VADD, "").kernel("vadd");
            // Shared host memory where the device allows it (PoCL does).
            try (ClBuffer da = ctx.mirror(ha); ClBuffer db = ctx.mirror(hb); ClBuffer dc = ctx.mirror(hc)) {
                assertEquals(dev.capabilities().unifiedMemory(), da.zeroCopy());
                ctx.write(da);
                ctx.write(db);
                long nanos = ctx.run(k.arg(0, da).arg(1, db).arg(2, dc).arg(3, n), new long[] {1024}, new long[] {64});
                ctx.read(dc);
                assertArrayEquals(want, hc.toFloatArray());
                assertTrue(nanos > 0, "profiled device time " + nanos);
            }
            // Separate device memory with explicit copies.
            hc.copyFrom(new float[n]);
            try (ClBuffer da = ctx.allocate(4L * n); ClBuffer db = ctx.allocate(4L * n); ClBuffer dc = ctx.mirror(hc);
                 ClKernel k2 = ctx.program(VADD, "").kernel("vadd")) {
                try (ClBuffer upA = ctx.mirror(ha); ClBuffer upB = ctx.mirror(hb)) {
                    ctx.run(k2.arg(0, upA).arg(1, upB).arg(2, dc).arg(3, n), new long[] {n}, null);
                }
                ctx.read(dc);
                assertArrayEquals(want, hc.toFloatArray());
                assertEquals(4L * n, da.byteSize());
            }
            k.close();
        }
    }

    @Test
    void buildFailuresCarryTheLogAndNumberedSource() {
        OpenClDevice dev = OpenClTestDevices.first();
        try (ClContext ctx = ClContext.create(dev)) {
            KernelBuildException e = assertThrows(KernelBuildException.class,
                    () -> ctx.program("__kernel void broken(__global float* x) {\n  x[0] = undeclared_name;\n}\n", ""));
            assertTrue(e.getMessage().contains("CL_BUILD_PROGRAM_FAILURE"), e.getMessage());
            assertTrue(e.buildLog().contains("undeclared_name"), e.buildLog());
            assertTrue(e.getMessage().contains("   2|   x[0] = undeclared_name;"), e.getMessage());
        }
    }

    @Test
    void programsComeFromMemoryThenDiskCache() {
        OpenClDevice dev = OpenClTestDevices.first();
        String src = VADD.replace("vadd", "vadd_cached");
        ClProgram.Origin first;
        try (ClContext ctx = ClContext.create(dev)) {
            first = ctx.program(src, "-cl-fast-relaxed-math").origin();
            assertEquals(ClProgram.Origin.MEMORY_CACHE, ctx.program(src, "-cl-fast-relaxed-math").origin());
            // Different options are a different program.
            assertTrue(ctx.program(src, "").origin() != ClProgram.Origin.MEMORY_CACHE);
        }
        assertTrue(first != ClProgram.Origin.MEMORY_CACHE);
        try (ClContext ctx = ClContext.create(dev)) {
            ClProgram p = ctx.program(src, "-cl-fast-relaxed-math");
            assertEquals(ClProgram.Origin.DISK_CACHE, p.origin(), "second context should load the stored binary");
            try (ClKernel k = p.kernel("vadd_cached")) {
                assertEquals("vadd_cached", k.name());
            }
        }
    }

    @Test
    void oversizedAllocationsSayWhatWasAskedAndWhatExists() {
        OpenClDevice dev = OpenClTestDevices.first();
        try (ClContext ctx = ClContext.create(dev)) {
            DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class,
                    () -> ctx.allocate(dev.maxAllocationBytes() + 1));
            assertTrue(e.getMessage().contains(Long.toString(dev.maxAllocationBytes() + 1))
                    && e.getMessage().contains("largest allocation"), e.getMessage());
        }
    }

    @Test
    void gridsThatDoNotTileAreRejectedBeforeEnqueue() {
        OpenClDevice dev = OpenClTestDevices.first();
        try (ClContext ctx = ClContext.create(dev); ClKernel k = ctx.program(VADD, "").kernel("vadd")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ctx.launch(k, new long[] {1000}, new long[] {64}));
            assertTrue(e.getMessage().contains("multiple of the local size"), e.getMessage());
        }
    }

    @Test
    void aKernelThatOverrunsItsDeadlineIsAnErrorNotAHang() {
        OpenClDevice dev = OpenClTestDevices.first();
        String spin = """
                __kernel void spin(__global float* x, int n) {
                    float acc = x[0];
                    for (int i = 0; i < n; i++) { acc = acc * 1.0000001f + 0.5f; }
                    x[get_global_id(0)] = acc;
                }
                """;
        try (ClContext ctx = ClContext.create(dev, Duration.ofMillis(20)); Buffer h = Buffers.allocate("x", DType.F32, 2);
             ClBuffer d = ctx.mirror(h); ClKernel k = ctx.program(spin, "").kernel("spin")) {
            k.arg(0, d).arg(1, 400_000_000);
            OpenClException e = assertThrows(OpenClException.class, () -> ctx.run(k, new long[] {2}, null));
            assertTrue(e.getMessage().contains("did not complete within 20 ms"), e.getMessage());
            ctx.finish(); // the runaway kernel does end; clean up after it
        }
    }

    @Test
    void aMissingLibraryNamesWhatToInstall() {
        OpenClException e = assertThrows(OpenClException.class, () -> ClNative.load("libGaleNoSuchOpenCL.so.1"));
        assertTrue(e.getMessage().contains("pocl-opencl-icd") && e.getMessage().contains("libGaleNoSuchOpenCL"),
                e.getMessage());
    }
}
