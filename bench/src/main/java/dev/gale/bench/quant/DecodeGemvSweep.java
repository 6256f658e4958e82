package dev.gale.bench.quant;

import dev.gale.bench.probe.ProbeKernels;
import dev.gale.core.cpu.HugePageAllocator;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.Q8_0Blocks;
import dev.gale.kernels.quant.Q8_0Packed;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The Q4_0 or Q8_0 decode GEMVs of a whole Llama-3.2-1B step (16 layers of wq, wk, wv, wo, w1, w3, w2 and the
 * 128256-row classifier; 0.73 / 1.35 GB, beyond this machine's L3), on all threads of the shared pool, from DRAM as a
 * decode reads them:
 * <ul>
 *   <li>the decode layouts: {@link Q4_0Lanes} (row lanes, Q8 activations, quantization included; the Q4_0 decode
 *       wherever the vector kernels run) and {@link Q8_0Blocks} (llama.cpp's blocks, F32 activations; the Q8_0
 *       decode at 512 bits);</li>
 *   <li>the 4-row layouts' F32-activation kernels ({@link Q4_0Packed}, {@link Q8_0Packed});</li>
 *   <li>{@code stream}: the read probe's loop over buffers of the same sizes, split over the pool the same way (four
 *       chunks per thread claimed in order, one job per matrix): what this schedule reads with no kernel work.</li>
 * </ul>
 * The three run in turn within each step, rotating which goes first, so slow phases of a shared machine fall on all
 * of them; medians are over the steps after the first quarter. What it separates: the kernels' own cost (against
 * {@code stream}) from the schedule's (against the roofline read probe, which reads one long stream per thread). A
 * development probe, run by hand: {@code java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar
 * dev.gale.bench.quant.DecodeGemvSweep [steps] [q4_0|q8_0]}.
 */
public final class DecodeGemvSweep {
    private static final int[][] LAYER = {{2048, 2048}, {512, 2048}, {512, 2048}, {2048, 2048}, {8192, 2048},
        {8192, 2048}, {2048, 8192}};
    private static final int LAYERS = 16;
    private static final int VOCAB = 128256;
    private static volatile double sink;

    private DecodeGemvSweep() {
    }

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        boolean q8 = args.length > 1 && args[1].equals("q8_0");
        QuantBenchCases.Format format = q8 ? QuantBenchCases.Format.Q8_0 : QuantBenchCases.Format.Q4_0;
        try (Arena arena = Arena.ofShared(); HugePageAllocator packed = new HugePageAllocator()) {
            MemorySegment x = QuantBenchCases.syntheticActivations(arena, 1, 8192);
            MemorySegment y = arena.allocate(4L * VOCAB, 64);
            List<Runnable> decodeLayout = new ArrayList<>();
            List<Runnable> rowGroups = new ArrayList<>();
            List<MemorySegment> plain = new ArrayList<>();
            long bytes = 0;
            long rowGroupBytes = 0;
            for (int l = 0; l <= LAYERS; l++) {
                for (int[] s : l < LAYERS ? LAYER : new int[][] {{VOCAB, 2048}}) {
                    long b;
                    try (Arena scratch = Arena.ofConfined()) {
                        MemorySegment w = QuantBenchCases.syntheticWeights(scratch, format, s[0], s[1]);
                        if (q8) {
                            Q8_0Blocks b8 = Q8_0Blocks.copy(w, 0, s[0], s[1], packed);
                            Q8_0Packed p8 = Q8_0Packed.pack(w, 0, s[0], s[1], packed);
                            decodeLayout.add(() -> b8.matmulF32Parallel(x, 0, 1, y, 0));
                            rowGroups.add(() -> p8.matmulF32Parallel(x, 0, 1, y, 0));
                            b = b8.blocks().byteSize();
                            rowGroupBytes += p8.byteSize();
                        } else {
                            Q4_0Lanes l4 = Q4_0Lanes.pack(w, 0, s[0], s[1], packed);
                            Q4_0Packed p4 = Q4_0Packed.pack(w, 0, s[0], s[1], packed);
                            decodeLayout.add(() -> l4.matmulQ8Parallel(x, 0, 1, y, 0));
                            rowGroups.add(() -> p4.matmulF32Parallel(x, 0, 1, y, 0));
                            b = l4.byteSize();
                            rowGroupBytes += p4.byteSize();
                        }
                    }
                    plain.add(packed.allocate(b, 64).fill((byte) 0x3f)); // 0x3f3f3f3f: a normal float
                    bytes += b;
                }
            }
            String[] names = q8 ? new String[] {"q8_0 blocks", "q8_0 4-row", "stream"}
                    : new String[] {"q4_0 lanes", "q4_0 f32", "stream"};
            Runnable[] runs = {
                () -> decodeLayout.forEach(Runnable::run),
                () -> rowGroups.forEach(Runnable::run),
                () -> plain.forEach(DecodeGemvSweep::stream)
            };
            double[][] ms = new double[runs.length][steps];
            for (int s = 0; s < steps; s++) {
                for (int k = 0; k < runs.length; k++) {
                    int v = (s + k) % runs.length;
                    long t0 = System.nanoTime();
                    runs[v].run();
                    ms[v][s] = (System.nanoTime() - t0) / 1e6;
                }
            }
            System.out.println(String.format(Locale.ROOT, "%s: %d matrices, %.0f MB per step in the decode layout, %d threads, %d steps "
                    + "(medians over the last %d)", format, decodeLayout.size(), bytes / 1e6, WorkerPool.shared().threads(),
                    steps, steps - steps / 4));
            double stream = median(ms[2], steps);
            long[] read = {bytes, rowGroupBytes, bytes};
            for (int v = 0; v < runs.length; v++) {
                double m = median(ms[v], steps);
                System.out.println(String.format(Locale.ROOT, "%-11s %7.1f ms/step  %5.1f GB/s  %.2f of stream's time",
                        names[v], m, read[v] / 1e6 / m, stream / m));
            }
        }
    }

    private static double median(double[] t, int steps) {
        double[] s = Arrays.copyOfRange(t, steps / 4, steps);
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /**
     * Sums a buffer over the pool as a GEMV splits its rows (64-byte lines, four chunks per thread), with the read
     * probe's own loop ({@link ProbeKernels#readSum}).
     */
    private static void stream(MemorySegment m) {
        WorkerPool.shared().parallelForBalanced((int) (m.byteSize() / 64), 1024,
                (s, e) -> sink += ProbeKernels.readSum(m, 16L * s, 16L * e));
    }
}
