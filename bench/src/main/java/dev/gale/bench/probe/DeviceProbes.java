package dev.gale.bench.probe;

import dev.gale.bench.Roofline;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Capabilities;
import dev.gale.core.device.Device;
import dev.gale.core.device.DeviceType;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelRunner;
import dev.gale.kernels.probe.DeviceProbeKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The roofline probes measured on a device, through its {@link KernelRunner} ({@link DeviceProbeKernels}):
 * <ul>
 * <li>{@link Roofline#READ_BW}: a grid-stride read-sum over one F32 stream; bytes counted: the stream (the per-item
 * partial sums it writes are a few hundred KiB at most and not counted).</li>
 * <li>{@link Roofline#TRIAD_BW}: STREAM triad {@code a = b + s·c}; bytes: three streams, as the host probe counts.</li>
 * <li>{@link Roofline#FMA_PEAK}: {@value DeviceProbeKernels#FMA_CHAINS} FMA chains per item in registers; the iteration
 * count doubles until one launch takes {@link Config#fmaNanos()}, so the launch cost is noise.</li>
 * </ul>
 * Times are the runner's device nanoseconds ({@link DeviceTime}: host wall time where the backend reports none), so
 * on a discrete device the copies a launch path may make around the kernel are not in them; the device cases are
 * divided by these probes at their kernel times too. Each probe is launched until the device time stops improving
 * ({@link WarmUp}), then the best of {@link Config#reps()} launches is the result.
 *
 * <p>Grid: {@value #GROUP_ITEMS} items per group (fewer where the device allows fewer), {@value #GROUPS_PER_UNIT}
 * groups per compute unit: enough resident warps on a GPU to keep loads in flight, and a few groups per core on a
 * CPU device. The result's {@link ProbeResult#threads()} is the number of work items.
 *
 * <p>The read probe checks its sum (the stream holds {@code i & 7}, each item's partial sum stays an exact float) and
 * fails if it is wrong: a probe that skipped memory must not become a roofline.
 */
public final class DeviceProbes {
    static final int GROUP_ITEMS = 256;
    static final int GROUPS_PER_UNIT = 8;
    private static final float TRIAD_SCALAR = 3.0f;

    /**
     * How big and how often.
     *
     * @param bytesPerStream bytes of each stream (read: one, triad: three)
     * @param reps timed launches per probe; the best is the result
     * @param warmupNanos minimum warm-up per probe (and at least two launches)
     * @param fmaNanos the FMA probe's iterations double until one launch takes at least this long
     */
    public record Config(long bytesPerStream, int reps, long warmupNanos, long fmaNanos) {
        public Config {
            if (bytesPerStream < Float.BYTES || reps < 1 || warmupNanos < 0 || fmaNanos < 1) {
                throw new IllegalArgumentException("bad device probe config: " + bytesPerStream + " bytes, " + reps
                        + " reps, " + warmupNanos + " ns warm-up, " + fmaNanos + " ns FMA launch");
            }
        }

        /** 1 GiB streams, best of 10, 0.2 s warm-up, FMA launches of at least 5 ms. */
        public static Config standard() {
            return new Config(1024 * RooflineProbes.Config.MIB, 10, 200_000_000L, 5_000_000L);
        }

        /** 256 MiB streams (five times an H100's or H200's 50 MiB L2), best of 5, 0.1 s warm-up, 2 ms FMA. */
        public static Config quick() {
            return new Config(256 * RooflineProbes.Config.MIB, 5, 100_000_000L, 2_000_000L);
        }

        public Config withBytesPerStream(long bytes) {
            return new Config(bytes, reps, warmupNanos, fmaNanos);
        }
    }

    private static volatile long sink;

    private DeviceProbes() {
    }

    /**
     * Whether a device's kernels are judged against its own probes rather than the host CPU's: a GPU, or any device
     * whose memory is not the host's. A CPU device on host memory (PoCL) streams the same DRAM the host probes
     * measure, with the whole machine's cores, so the host probes stay its ceiling.
     */
    public static boolean ownRoofline(Device d) {
        Capabilities c = d.capabilities();
        return c.type() == DeviceType.GPU || !c.unifiedMemory();
    }

    /** The probes' grid on {@code d}. */
    static Grid grid(Device d) {
        Capabilities c = d.capabilities();
        int group = (int) Math.max(1, Math.min(GROUP_ITEMS, c.maxWorkGroupSize()));
        int groups = Math.max(1, c.computeUnits()) * GROUPS_PER_UNIT;
        return Grid.of1(groups * group, group);
    }

    /** All three probes on {@code d}, which must have a kernel runner. */
    public static ProbeSet measure(Device d, Config config) {
        KernelRunner runner = d.kernelRunner();
        if (runner == null) {
            throw new IllegalArgumentException(d.id() + " has no kernel runner");
        }
        Grid grid = grid(d);
        int items = grid.globalSize(0);
        long n = Math.max(items, config.bytesPerStream() / Float.BYTES);
        List<ProbeResult> out = new ArrayList<>();
        try (Buffer partial = Buffers.allocate("probe-partial", DType.F32, items)) {
            try (Buffer x = Buffers.allocate("probe-x", DType.F32, n)) {
                MemorySegment s = x.segment();
                for (long i = 0; i < n; i++) {
                    s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, i & 7);
                }
                LongSupplier read = () -> runner.run(DeviceProbeKernels.class, "readSum", grid, x, partial, n);
                DeviceTime.nanos(read);
                checkReadSum(d, partial, n, items);
                out.add(result(Roofline.READ_BW, items, (double) n * Float.BYTES, read, config));
            }
            try (Buffer a = Buffers.allocate("probe-a", DType.F32, n);
                 Buffer b = Buffers.allocate("probe-b", DType.F32, n);
                 Buffer c = Buffers.allocate("probe-c", DType.F32, n)) {
                for (long i = 0; i < n; i++) {
                    b.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, i & 3);
                    c.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, 1);
                }
                LongSupplier triad = () -> runner.run(DeviceProbeKernels.class, "triad", grid, a, b, c, TRIAD_SCALAR,
                        n);
                out.add(result(Roofline.TRIAD_BW, items, 3.0 * n * Float.BYTES, triad, config));
            }
            int iterations = 256;
            while (iterations < (1 << 24)) {
                int it = iterations;
                if (DeviceTime.nanos(() -> runner.run(DeviceProbeKernels.class, "fmaChains", grid, partial, it))
                        >= config.fmaNanos()) {
                    break;
                }
                iterations *= 2;
            }
            int it = iterations;
            LongSupplier fma = () -> runner.run(DeviceProbeKernels.class, "fmaChains", grid, partial, it);
            out.add(result(Roofline.FMA_PEAK, items, 2.0 * DeviceProbeKernels.FMA_CHAINS * it * items, fma, config));
        }
        return new ProbeSet(out, items, n * Float.BYTES);
    }

    /** The stream holds {@code i & 7}: its sum is exact in double, and so is every item's float partial sum here. */
    private static void checkReadSum(Device d, Buffer partial, long n, int items) {
        double want = (n / 8) * 28.0 + (n % 8) * (n % 8 - 1) / 2.0;
        double got = 0;
        for (int i = 0; i < items; i++) {
            got += partial.getFloat(i);
        }
        if (got != want) {
            throw new IllegalStateException("device read probe on " + d.id() + " summed " + got + ", expected " + want
                    + ": the kernel did not read the whole stream");
        }
    }

    private static ProbeResult result(Roofline roofline, int items, double work, LongSupplier launch, Config c) {
        WarmUp.run(() -> sink += DeviceTime.nanos(launch), c.warmupNanos(), 2, 10 * Math.max(c.warmupNanos(),
                100_000_000L));
        double[] times = new double[c.reps()];
        for (int i = 0; i < times.length; i++) {
            times[i] = DeviceTime.nanos(launch) * 1e-9;
        }
        double best = Stats.min(times);
        return new ProbeResult(roofline, items, work / best / 1e9, best, Stats.median(times), times.length, work);
    }
}
