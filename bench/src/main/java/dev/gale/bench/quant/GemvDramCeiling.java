package dev.gale.bench.quant;

import dev.gale.bench.Roofline;
import dev.gale.bench.probe.ProbeResult;
import dev.gale.bench.probe.RooflineProbes;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.cpu.HugePageAllocator;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q8_0Lanes;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The decode GEMVs' own ceiling from DRAM: the Q4_0 and Q8_0 row-lane kernels ({@link Q4_0Lanes}, {@link Q8_0Lanes},
 * what a Llama decode step runs, Q8 activations quantized inside, packed onto huge pages by {@link HugePageAllocator}
 * as the decoder packs them; {@code -Dgale.hugePages=false} for plain pages) at the Llama-3.2-1B ffn_up shape
 * (2048 → 8192), on all threads of {@link WorkerPool#shared()}, wall time. Each round times one copy of the weights (it stays in
 * the last-level cache after the first call) and then enough copies to pass 1.5× the L3, called in turn, so every
 * call streams its weights from memory, as the 731 MB (Q4_0) and 1348 MB (Q8_0) a 1B step reads do. The report
 * cases ({@link QuantBenchCases}) use one copy; on a machine with a 300 MiB L3 those read from the cache.
 *
 * <p>The read probe is measured first in the same process (the runner's quick configuration, streams past the L3),
 * so the DRAM rate can be set against it: a decode step can not beat its GEMVs' rate from memory, and
 * {@code x probe} for the step is bounded by this ratio.
 *
 * <p>A development probe, run by hand: {@code java $GALE_JVM_FLAGS -cp bench/target/benchmarks.jar
 * dev.gale.bench.quant.GemvDramCeiling [rounds]}.
 */
public final class GemvDramCeiling {
    private static final int IN = 2048;
    private static final int OUT = 8192;
    /** GEMV calls per timed pass. */
    private static final int CALLS = 480;

    private GemvDramCeiling() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        ProbeResult read = new RooflineProbes(RooflineProbes.Config.quick(), WorkerPool.shared())
                .measure(Roofline.READ_BW, false);
        System.out.printf("read probe, %d threads: %.1f GB/s%n", read.threads(), read.value());
        long l3 = CpuDevice.instance().capabilities().cacheBytes()[2];
        for (QuantBenchCases.Format format : QuantBenchCases.Format.values()) {
            run(format, l3, rounds, read.value());
        }
    }

    private static void run(QuantBenchCases.Format format, long l3, int rounds, double probe) {
        try (Arena arena = Arena.ofShared(); HugePageAllocator pages = new HugePageAllocator()) {
            long bytes;
            try (Arena scratch = Arena.ofConfined()) {
                bytes = QuantBenchCases.syntheticWeights(scratch, format, OUT, IN).byteSize();
            }
            int copies = (int) Math.max(2, (l3 + l3 / 2) / bytes + 1);
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, 1, IN);
            MemorySegment y = arena.allocate(4L * OUT, 64);
            Runnable[] gemv = new Runnable[copies];
            for (int i = 0; i < copies; i++) {
                try (Arena scratch = Arena.ofConfined()) {
                    MemorySegment w = QuantBenchCases.syntheticWeights(scratch, format, OUT, IN);
                    if (format == QuantBenchCases.Format.Q4_0) {
                        Q4_0Lanes l = Q4_0Lanes.pack(w, 0, OUT, IN, pages);
                        gemv[i] = () -> l.matmulQ8Parallel(x, 0, 1, y, 0);
                    } else {
                        Q8_0Lanes l = Q8_0Lanes.pack(w, 0, OUT, IN, pages);
                        gemv[i] = () -> l.matmulQ8Parallel(x, 0, 1, y, 0);
                    }
                }
            }
            pass(gemv, copies); // warm-up: compiles the kernel, touches every copy
            double[] cached = new double[rounds];
            double[] dram = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                cached[r] = bytes * CALLS / pass(gemv, 1) / 1e9;
                dram[r] = bytes * CALLS / pass(gemv, copies) / 1e9;
            }
            Arrays.sort(cached);
            Arrays.sort(dram);
            double c = cached[rounds - 1];
            double m = dram[rounds - 1];
            System.out.printf("%s GEMV %d -> %d, llama.cpp block bytes %.1f MB: one copy (cache) %.2f GB/s; %d copies "
                    + "(%.0f MB, memory) %.2f GB/s (median %.2f) = %.2f of the read probe; memory / cache %.2f; "
                    + "%.0f MB advised as huge pages%n", format, IN, OUT, bytes / 1e6, c, copies, copies * bytes / 1e6,
                    m, dram[rounds / 2], m / probe, m / c, pages.hugeAdvisedBytes() / 1e6);
        }
    }

    /** Seconds for {@link #CALLS} GEMVs over the first {@code n} copies in turn. */
    private static double pass(Runnable[] gemv, int n) {
        long t0 = System.nanoTime();
        for (int i = 0; i < CALLS; i++) {
            gemv[i % n].run();
        }
        return (System.nanoTime() - t0) / 1e9;
    }
}
