package dev.gale.bench.quant;

import dev.gale.bench.probe.ProbeKernels;
import dev.gale.core.cpu.HugePageAllocator;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.quant.Q4_0Lanes;
import dev.gale.kernels.quant.Q4_0Packed;
import dev.gale.kernels.quant.Q8_0Blocks;
import dev.gale.kernels.quant.Q8_0Lanes;
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
 *   <li>the row-lane layouts on Q8 activations, quantization included: {@link Q4_0Lanes} and {@link Q8_0Lanes};</li>
 *   <li>F32 activations: {@link Q4_0Packed}; for Q8_0 llama.cpp's blocks ({@link Q8_0Blocks}) and the 4-row layout
 *       ({@link Q8_0Packed});</li>
 *   <li>{@code stream}: the read probe's loop over buffers of the same sizes, split over the pool the same way (four
 *       chunks per thread claimed in order, one job per matrix): what this schedule reads with no kernel work.</li>
 * </ul>
 * The variants run in turn within each step, rotating which goes first, so slow phases of a shared machine fall on all
 * of them; medians are over the steps after the first quarter. What it separates: the kernels' own cost (against
 * {@code stream}) from the schedule's (against the roofline read probe, which reads one long stream per thread). A
 * development probe, run by hand: {@code java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar
 * dev.gale.bench.quant.DecodeGemvSweep [steps] [q4_0|q8_0] [sin|gauss]}.
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
            // sin(0.37·i) by default, the GEMV table's input; "gauss" draws N(0, 1), nearer a decode's activations,
            // whose Q8 blocks mostly let the 4-bit kernels sum a whole block in 16 bits (Q4_0Lanes).
            boolean gauss = args.length > 2 && args[2].equals("gauss");
            MemorySegment x = gauss ? QuantBenchCases.gaussianActivations(arena, 1, 8192)
                    : QuantBenchCases.syntheticActivations(arena, 1, 8192);
            MemorySegment y = arena.allocate(4L * VOCAB, 64);
            // per variant: its runs, one per matrix, and the bytes it reads per step
            String[] names = q8 ? new String[] {"q8_0 lanes", "q8_0 blocks", "q8_0 4-row", "stream"}
                    : new String[] {"q4_0 lanes", "q4_0 f32", "stream"};
            int kernels = names.length - 1;
            List<List<Runnable>> variants = new ArrayList<>();
            for (int v = 0; v <= kernels; v++) {
                variants.add(new ArrayList<>());
            }
            long[] read = new long[names.length];
            for (int l = 0; l <= LAYERS; l++) {
                for (int[] s : l < LAYERS ? LAYER : new int[][] {{VOCAB, 2048}}) {
                    long b;
                    try (Arena scratch = Arena.ofConfined()) {
                        MemorySegment w = QuantBenchCases.syntheticWeights(scratch, format, s[0], s[1]);
                        if (q8) {
                            Q8_0Lanes l8 = Q8_0Lanes.pack(w, 0, s[0], s[1], packed);
                            Q8_0Blocks b8 = Q8_0Blocks.copy(w, 0, s[0], s[1], packed);
                            Q8_0Packed p8 = Q8_0Packed.pack(w, 0, s[0], s[1], packed);
                            variants.get(0).add(() -> l8.matmulQ8Parallel(x, 0, 1, y, 0));
                            variants.get(1).add(() -> b8.matmulF32Parallel(x, 0, 1, y, 0));
                            variants.get(2).add(() -> p8.matmulF32Parallel(x, 0, 1, y, 0));
                            b = l8.byteSize();
                            read[1] += b8.blocks().byteSize();
                            read[2] += p8.byteSize();
                        } else {
                            Q4_0Lanes l4 = Q4_0Lanes.pack(w, 0, s[0], s[1], packed);
                            Q4_0Packed p4 = Q4_0Packed.pack(w, 0, s[0], s[1], packed);
                            variants.get(0).add(() -> l4.matmulQ8Parallel(x, 0, 1, y, 0));
                            variants.get(1).add(() -> p4.matmulF32Parallel(x, 0, 1, y, 0));
                            b = l4.byteSize();
                            read[1] += p4.byteSize();
                        }
                    }
                    MemorySegment plain = packed.allocate(b, 64).fill((byte) 0x3f); // 0x3f3f3f3f: a normal float
                    variants.get(kernels).add(() -> stream(plain));
                    read[0] += b;
                    read[kernels] += b;
                }
            }
            // The variants run in turn within each step, rotating which goes first.
            double[][] ms = new double[names.length][steps];
            for (int s = 0; s < steps; s++) {
                for (int k = 0; k < names.length; k++) {
                    int v = (s + k) % names.length;
                    long t0 = System.nanoTime();
                    variants.get(v).forEach(Runnable::run);
                    ms[v][s] = (System.nanoTime() - t0) / 1e6;
                }
            }
            System.out.println(String.format(Locale.ROOT, "%s: %d matrices, %.0f MB per step in the decode layout, %d threads, %d steps "
                    + "(medians over the last %d)", format, variants.get(0).size(), read[0] / 1e6,
                    WorkerPool.shared().threads(), steps, steps - steps / 4));
            double stream = median(ms[kernels], steps);
            for (int v = 0; v < names.length; v++) {
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
