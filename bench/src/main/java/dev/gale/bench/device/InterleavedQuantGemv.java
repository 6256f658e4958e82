package dev.gale.bench.device;

import dev.gale.bench.BenchDevices;
import dev.gale.bench.quant.QuantBenchCases;
import dev.gale.bench.report.Table;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.core.device.Device;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelRunner;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.Q8_0Packed;
import dev.gale.kernels.quant.SplitBlocks;
import dev.gale.kernels.quant.SplitGemvKernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The Q8_0/Q4_0 GEMV on the device ({@link SplitGemvKernels}, the graph op's one-token path) against the packed
 * Vector API GEMV ({@link Q4_0Packed}/{@link Q8_0Packed} on the shared worker pool), <b>interleaved</b>: each round
 * times one device run and one Vector API run back to back (alternating which goes first), so both see the same
 * load. On the shared 2-core machines the report cases, timed one after the other, can meet very different loads
 * (the Vector API case at 126 MiB ranged from 11.8 to 117 ms between runs); the per-round ratio does not.
 *
 * <p>Rows: time ratio device / Vector API of the best times, and the median and range of the per-round ratios.
 * Device time is wall time through the device's {@link dev.gale.core.kernel.KernelRunner} (launch overhead and any
 * copies the backend makes included), as in the report cases.
 */
final class InterleavedQuantGemv {
    private InterleavedQuantGemv() {
    }

    static String title(Device d) {
        return BenchDevices.label(d) + ": Q8_0/Q4_0 GEMV x F32, split-block kernels vs packed Vector API, interleaved";
    }

    static Table measure(Device device, boolean quick) {
        int rounds = quick ? 9 : 31;
        List<List<String>> rows = new ArrayList<>();
        rows.add(row(device, QuantBenchCases.Format.Q4_0, QuantBenchCases.L1B_UP, rounds));
        if (!quick) {
            rows.add(row(device, QuantBenchCases.Format.Q4_0, QuantBenchCases.L8B_UP, rounds));
            rows.add(row(device, QuantBenchCases.Format.Q4_0, QuantBenchCases.Q4_128MIB, rounds));
            rows.add(row(device, QuantBenchCases.Format.Q8_0, QuantBenchCases.L8B_UP, rounds));
        }
        List<String> notes = List.of(
                rounds + " rounds after a warm-up; a round times one device run and one Vector API run (one call each"
                        + " at these sizes), alternating which goes first. Weights: QuantBenchCases' synthetic ones;"
                        + " the split layout and the packed layout are built before timing.",
                "ratio = device time / Vector API time (below 1: the device is faster); speed = its inverse. "
                        + "best/best compares the best round times; median and range are over the per-round "
                        + "ratios.",
                "Vector API: " + WorkerPool.shared().threads() + " threads of WorkerPool.shared(); device: every "
                        + "compute unit of the device, launched through its kernel runner (wall time).");
        return new Table(title(device), List.of("op", "shape", "device kernel", "vector-api best", "device best",
                "ratio best/best", "ratio median", "ratio range", "speed (median)"), rows, notes);
    }

    private static List<String> row(Device device, QuantBenchCases.Format f, QuantBenchCases.Shape s,
            int rounds) {
        int in = s.in();
        int rows = s.out();
        boolean q8 = f == QuantBenchCases.Format.Q8_0;
        String kernel = "gemvSplit";
        KernelRunner runner = device.kernelRunner();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment blocks = QuantBenchCases.syntheticWeights(arena, f, rows, in);
            Q8_0Packed p8 = q8 ? Q8_0Packed.pack(blocks, 0, rows, in, arena) : null;
            Q4_0Packed p4 = q8 ? null : Q4_0Packed.pack(blocks, 0, rows, in, arena);
            MemorySegment yv = arena.allocate(4L * rows, 64);
            try (SplitBlocks split = q8 ? SplitBlocks.q8_0(blocks, 0, rows, in) : SplitBlocks.q4_0(blocks, 0, rows, in);
                 Buffer x = Buffers.allocate("x", DType.F32, in); Buffer y = Buffers.allocate("y", DType.F32, rows)) {
                for (int i = 0; i < in; i++) {
                    x.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i * 0.37));
                }
                Grid grid = DeviceBenchCases.elementGrid(rows);
                int bits = q8 ? 8 : 4;
                Runnable dev = () -> runner.run(SplitGemvKernels.class, kernel, grid, split.quants(), split.scales(),
                        x, y, rows, in, bits);
                Runnable cpu = q8 ? () -> p8.matmulF32Parallel(x.segment(), 0, 1, yv, 0)
                        : () -> p4.matmulF32Parallel(x.segment(), 0, 1, yv, 0);
                for (long end = System.nanoTime() + 1_000_000_000L; System.nanoTime() < end; ) {
                    dev.run();
                    cpu.run();
                }
                double[] tDev = new double[rounds];
                double[] tCpu = new double[rounds];
                double[] ratio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    if (r % 2 == 0) {
                        tDev[r] = seconds(dev);
                        tCpu[r] = seconds(cpu);
                    } else {
                        tCpu[r] = seconds(cpu);
                        tDev[r] = seconds(dev);
                    }
                    ratio[r] = tDev[r] / tCpu[r];
                }
                Arrays.sort(ratio);
                double bestDev = Arrays.stream(tDev).min().orElseThrow();
                double bestCpu = Arrays.stream(tCpu).min().orElseThrow();
                double median = ratio[rounds / 2];
                return List.of("gemv " + f.name().toLowerCase(Locale.ROOT) + " x f32",
                        in + "x" + rows + " (" + s.what() + ")", kernel, ms(bestCpu), ms(bestDev),
                        fmt(bestDev / bestCpu), fmt(median), fmt(ratio[0]) + " - " + fmt(ratio[rounds - 1]),
                        fmt(1 / median) + "x");
            }
        }
    }

    private static double seconds(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return (System.nanoTime() - t0) * 1e-9;
    }

    private static String ms(double s) {
        return String.format(Locale.ROOT, "%.2f ms", s * 1e3);
    }

    /**
     * Three significant digits: a round where the Vector API run waited behind PoCL's busy worker threads can make a
     * ratio tiny, and two decimals would print it as 0.00.
     */
    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.3g", v);
    }
}
