package dev.gale.core.emulator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class EmulatorTest {
    @Kernel
    static void ids(KernelContext ctx, I32 out) {
        int gx = ctx.globalSize(0);
        int gy = ctx.globalSize(1);
        int linear = (ctx.globalId(2) * gy + ctx.globalId(1)) * gx + ctx.globalId(0);
        long o = linear * 6L;
        for (int d = 0; d < 3; d++) {
            int expect = ctx.groupId(d) * ctx.localSize(d) + ctx.localId(d);
            out.set(o + d, ctx.globalId(d) == expect ? 1 : 0);
        }
        out.set(o + 3, ctx.groupId(0) + 100 * ctx.groupId(1) + 10000 * ctx.groupId(2));
        out.set(o + 4, ctx.numGroups(0) * ctx.numGroups(1) * ctx.numGroups(2));
        out.set(o + 5, ctx.localSize(0) * ctx.localSize(1) * ctx.localSize(2));
    }

    @Test
    void everyItemOfA3dGridSeesConsistentIds() {
        Grid grid = new Grid(new int[] {8, 6, 4}, new int[] {4, 3, 2});
        int n = 8 * 6 * 4;
        try (Buffer out = Buffers.allocate("out", DType.I32, n * 6L)) {
            Emulator.parallel(3).run(EmulatorTest.class, "ids", grid, out);
            for (int z = 0; z < 4; z++) {
                for (int y = 0; y < 6; y++) {
                    for (int x = 0; x < 8; x++) {
                        long o = ((z * 6L + y) * 8 + x) * 6;
                        for (int d = 0; d < 3; d++) {
                            assertEquals(1, out.getInt(o + d));
                        }
                        assertEquals(x / 4 + 100 * (y / 3) + 10000 * (z / 2), out.getInt(o + 3));
                        assertEquals(2 * 2 * 2, out.getInt(o + 4));
                        assertEquals(4 * 3 * 2, out.getInt(o + 5));
                    }
                }
            }
        }
    }

    /** Reverses each group's slice through local memory: wrong without a working barrier. */
    @Kernel
    static void reverseInGroups(KernelContext ctx, F32 in, F32 out) {
        float[] tile = ctx.localFloats(64);
        int l = ctx.localId(0);
        int size = ctx.localSize(0);
        tile[l] = in.get(ctx.globalId(0));
        ctx.barrier();
        out.set(ctx.globalId(0), tile[size - 1 - l]);
    }

    @Test
    void barriersAndLocalArraysAreSharedPerGroup() {
        int n = 512;
        float[] v = new float[n];
        float[] want = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = i;
        }
        for (int g = 0; g < n / 64; g++) {
            for (int l = 0; l < 64; l++) {
                want[g * 64 + l] = v[g * 64 + 63 - l];
            }
        }
        try (Buffer in = Buffers.f32("in", v); Buffer out = Buffers.allocate("out", DType.F32, n)) {
            Emulator.sequential().run(EmulatorTest.class, "reverseInGroups", Grid.of1(n, 64), in, out);
            assertArrayEquals(want, out.toFloatArray());
            out.copyFrom(new float[n]);
            Emulator.parallel(4).run(EmulatorTest.class, "reverseInGroups", Grid.of1(n, 64), F32.of(in),
                    F32.of(out));
            assertArrayEquals(want, out.toFloatArray());
        }
    }

    @Kernel
    static void earlyReturn(KernelContext ctx, F32 out) {
        if (ctx.localId(0) == 3) {
            return;
        }
        ctx.barrier();
        out.set(ctx.globalId(0), 1.0f);
    }

    @Kernel
    static void twoBarriers(KernelContext ctx, F32 out) {
        if (ctx.localId(0) % 2 == 0) {
            ctx.barrier();
        } else {
            ctx.barrier();
        }
        out.set(ctx.globalId(0), 1.0f);
    }

    @Kernel
    static void throwsInOneItem(KernelContext ctx, F32 out) {
        float[] t = ctx.localFloats(8);
        int l = ctx.localId(0);
        ctx.barrier();
        out.set(ctx.globalId(0) + (l == 5 ? 1000000 : 0), t[l]);
        ctx.barrier();
    }

    @Test
    void barrierDivergenceIsReportedNotDeadlocked() {
        try (Buffer out = Buffers.allocate("out", DType.F32, 64)) {
            BarrierDivergenceException e = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertThrows(
                    BarrierDivergenceException.class,
                    () -> Emulator.sequential().run(EmulatorTest.class, "earlyReturn", Grid.of1(64, 8), out)));
            assertTrue(e.getMessage().contains("barrier divergence in kernel EmulatorTest.earlyReturn, group [0, 0, 0]"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("global (3)"), e.getMessage());
            BarrierDivergenceException e2 = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertThrows(
                    BarrierDivergenceException.class,
                    () -> Emulator.parallel(2).run(EmulatorTest.class, "twoBarriers", Grid.of1(64, 8), out)));
            assertTrue(e2.getMessage().contains("EmulatorTest.twoBarriers(line"), e2.getMessage());
        }
    }

    @Test
    void anExceptionInOneItemFailsTheLaunchAndNamesTheItem() {
        try (Buffer out = Buffers.allocate("out", DType.F32, 64)) {
            EmulatorException e = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertThrows(
                    EmulatorException.class,
                    () -> Emulator.parallel(2).run(EmulatorTest.class, "throwsInOneItem", Grid.of1(64, 8), out)));
            assertTrue(e.getMessage().contains("work item global (5) of kernel EmulatorTest.throwsInOneItem threw"),
                    e.getMessage());
            assertInstanceOf(IndexOutOfBoundsException.class, e.getCause());
        }
    }

    @Kernel
    static void atomics(KernelContext ctx, I32 counters, F32 sum) {
        int[] local = ctx.localInts(4);
        float[] lsum = ctx.localFloats(1);
        int l = ctx.localId(0);
        if (l == 0) {
            local[0] = 0;
            local[1] = Integer.MAX_VALUE;
            local[2] = Integer.MIN_VALUE;
            local[3] = 0;
            lsum[0] = 0.0f;
        }
        ctx.barrier();
        int g = ctx.globalId(0);
        ctx.atomicAdd(local, 0, 1);
        ctx.atomicMin(local, 1, g);
        ctx.atomicMax(local, 2, g);
        ctx.atomicAdd(lsum, 0, 1.0f);
        int seen = local[3];
        while (true) {
            int prev = ctx.atomicCas(local, 3, seen, seen + 2);
            if (prev == seen) {
                break;
            }
            seen = prev;
        }
        ctx.atomicAdd(counters, 0, 1);
        ctx.atomicMin(counters, 1, g);
        ctx.atomicMax(counters, 2, g);
        ctx.atomicAdd(sum, 0, 0.5f);
        ctx.barrier();
        if (l == 0) {
            ctx.atomicAdd(counters, 3, local[0]);
            ctx.atomicMin(counters, 4, local[1]);
            ctx.atomicMax(counters, 5, local[2]);
            ctx.atomicAdd(counters, 6, local[3]);
            ctx.atomicAdd(counters, 7, (int) lsum[0]);
            int old = ctx.atomicCas(counters, 8, 0, 7);
            ctx.atomicAdd(counters, 9, old == 0 ? 1 : 0);
        }
    }

    @Test
    void atomicsAreAtomicAcrossItemsAndGroups() {
        int n = 2048;
        try (Buffer c = Buffers.allocate("c", DType.I32, 10); Buffer s = Buffers.allocate("s", DType.F32, 1)) {
            c.setInt(1, Integer.MAX_VALUE);
            c.setInt(2, Integer.MIN_VALUE);
            c.setInt(4, Integer.MAX_VALUE);
            c.setInt(5, Integer.MIN_VALUE);
            Emulator.parallel(4).run(EmulatorTest.class, "atomics", Grid.of1(n, 128), c, s);
            assertEquals(n, c.getInt(0));
            assertEquals(0, c.getInt(1));
            assertEquals(n - 1, c.getInt(2));
            assertEquals(n, c.getInt(3));
            assertEquals(0, c.getInt(4));
            assertEquals(n - 1, c.getInt(5));
            assertEquals(2 * n, c.getInt(6));
            assertEquals(n, c.getInt(7));
            assertEquals(7, c.getInt(8));
            assertEquals(1, c.getInt(9), "exactly one compare-and-swap from 0 succeeds");
            assertEquals(n * 0.5f, s.getFloat(0));
        }
    }

    @Test
    void argumentsAreChecked() {
        try (Buffer f = Buffers.allocate("f", DType.F32, 8)) {
            EmulatorException e = assertThrows(EmulatorException.class,
                    () -> Emulator.sequential().run(EmulatorTest.class, "ids", Grid.of1(8, 8)));
            assertTrue(e.getMessage().contains("takes 1 arguments besides the KernelContext, got 0"), e.getMessage());
            assertThrows(RuntimeException.class,
                    () -> Emulator.sequential().run(EmulatorTest.class, "ids", Grid.of1(8, 8), f));
            assertThrows(EmulatorException.class,
                    () -> Emulator.sequential().run(EmulatorTest.class, "nothing", Grid.of1(8, 8)));
            assertThrows(IllegalArgumentException.class, () -> Grid.of1(10, 4));
        }
    }
}
