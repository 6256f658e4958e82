package dev.gale.bench.attention.prefill;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchDevices;
import dev.gale.bench.Roofline;
import dev.gale.bench.probe.DeviceTime;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelRunner;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.PrefillAttentionOp;
import dev.gale.kernels.attention.PrefillBatch;
import dev.gale.kernels.attention.PrefillKernels;
import dev.gale.kernels.attention.PrefillTiles;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@link PrefillKernels#flashPrefill} on one device with a kernel runner at a {@link PrefillCase}'s shape, launched as
 * the graph op launches it ({@code device.kernelRunner().run}: arguments, enqueue, wait). The first launch (program
 * build, PoCL's work-group specialisation) happens in setup; the kernel time of each run is kept
 * ({@link DeviceTime}).
 */
final class PrefillDeviceCase implements BenchCase {
    private static final int KEPT = 1 << 10;
    private final Device device;
    private final AttentionSpec spec;
    private final int n;
    private final String origin;
    private final PrefillBatch batch;
    private final long[] kernelNanos = new long[KEPT];
    private final List<Buffer> buffers = new ArrayList<>();
    private long runs;
    private KernelRunner runner;
    private Grid grid;
    private Object[] args;

    PrefillDeviceCase(Device device, AttentionSpec spec, int n, String origin) {
        this.device = device;
        this.spec = spec;
        this.n = n;
        this.origin = origin;
        this.batch = PrefillBatch.single(n, n);
    }

    @Override
    public String op() {
        return PrefillCase.op(spec);
    }

    @Override
    public String shape() {
        return PrefillCase.shape(spec, n, origin);
    }

    /** {@link BenchDevices#label}, as the other device cases. */
    @Override
    public String impl() {
        return BenchDevices.label(device);
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public double bytes() {
        return PrefillCase.bytes(spec, n);
    }

    @Override
    public double flops() {
        return PrefillCase.flops(spec, batch);
    }

    @Override
    public Roofline roofline() {
        return Roofline.FMA_PEAK;
    }

    @Override
    public String pairKey() {
        return op() + " " + shape();
    }

    private Buffer f32(String name, long floats, long seed) {
        Buffer b = Buffers.allocate(name, DType.F32, floats);
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (long i = 0; i < floats; i++) {
            b.setFloat(i, (float) (r.nextDouble() * 2 - 1));
        }
        buffers.add(b);
        return b;
    }

    @Override
    public void setup() {
        runs = 0;
        int d = spec.headDim();
        Buffer q = f32("q", (long) n * spec.heads() * d, 1);
        Buffer k = f32("k", (long) n * spec.kvHeads() * d, 2);
        Buffer v = f32("v", (long) n * spec.kvHeads() * d, 3);
        Buffer out = f32("out", (long) n * spec.heads() * d, 4);
        Buffer seqs = PrefillAttentionOp.tableBuffer(batch);
        Buffer mask = Buffers.allocate("mask", DType.U8, 1);
        buffers.add(seqs);
        buffers.add(mask);
        runner = device.kernelRunner();
        PrefillTiles tiles = PrefillTiles.of(device, spec.headDim());
        grid = tiles.grid(n, spec.heads(), 1);
        // Every parameter but the context, the @Const values (d, br, bc) last, as the kernel declares them.
        args = new Object[] {q, k, v, seqs, mask, out, spec.heads(), spec.kvHeads(), 1, 0, spec.scale(), 0, d,
                tiles.br(), tiles.bc()};
        launch();
    }

    private long launch() {
        return runner.run(PrefillKernels.class, "flashPrefill", grid, args);
    }

    @Override
    public void run() {
        kernelNanos[(int) (runs++ % KEPT)] = DeviceTime.nanos(this::launch);
    }

    @Override
    public double[] deviceSeconds() {
        int m = (int) Math.min(runs, KEPT);
        double[] s = new double[m];
        for (int i = 0; i < m; i++) {
            s[i] = kernelNanos[i] * 1e-9;
        }
        Arrays.sort(s);
        return s;
    }

    @Override
    public void close() {
        runner = null;
        buffers.forEach(Buffer::close);
        buffers.clear();
    }
}
