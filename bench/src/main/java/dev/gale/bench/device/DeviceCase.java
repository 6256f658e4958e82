package dev.gale.bench.device;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchDevices;
import dev.gale.bench.Roofline;
import dev.gale.bench.probe.DeviceTime;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.kernel.KernelRunner;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.LongSupplier;

/**
 * One op's device kernel at one shape on one device with a {@link KernelRunner} (OpenCL, CUDA, …), as the report
 * runner times it.
 *
 * <p>{@link #setup()} allocates and fills the buffers (pseudo-random values in [-1, 1]: speed does not depend on
 * them, and the test compares against the reference) and launches once, so the program build (and PoCL's first-launch
 * work-group specialisation, NVRTC's compile) is not timed. {@link #run()} is the whole op as the graph ops launch it:
 * {@code device.kernelRunner().run(owner, method, grid, args)} for each kernel the op needs ({@code KernelOp}'s
 * device path; on OpenCL the calling thread's launch session: argument checks, kernel arguments, enqueue, flush,
 * waiting on the event, the profiling query). The runner's time is therefore wall time including launch overhead and
 * whatever copies the backend makes around a launch (none on PoCL, whose buffers are host memory); the kernel time of
 * each run, as the runner returns it, is recorded too ({@link #deviceSeconds()}: {@link DeviceTime}, host wall time
 * of the launches where a backend returns 0).
 */
final class DeviceCase implements BenchCase {
    /** The most recent runs whose kernel time is kept. */
    static final int KEPT = 1 << 12;
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Allocates the case's buffers and returns the op: launches every kernel through {@code runner}, returns the
     * summed nanos the runner returned.
     */
    @FunctionalInterface
    interface Body {
        LongSupplier prepare(KernelRunner runner, Alloc alloc);
    }

    /** The case's buffers, by name; closed with the case. */
    static final class Alloc {
        private final Map<String, Buffer> buffers = new LinkedHashMap<>();
        private final SplittableRandom random;

        Alloc(long seed) {
            this.random = new SplittableRandom(seed);
        }

        /** {@code n} F32 values, uniform in [-1, 1]. */
        Buffer f32(String name, long n) {
            Buffer b = add(Buffers.allocate(name, DType.F32, n));
            MemorySegment s = b.segment();
            for (long i = 0; i < n; i++) {
                s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (random.nextDouble() * 2 - 1));
            }
            return b;
        }

        /** {@code n} F32 values from {@code values}. */
        Buffer f32(String name, float[] values) {
            return add(Buffers.f32(name, values));
        }

        /** {@code n} F16 values, uniform in [-1, 1]. */
        Buffer f16(String name, long n) {
            Buffer b = add(Buffers.allocate(name, DType.F16, n));
            MemorySegment s = b.segment();
            for (long i = 0; i < n; i++) {
                s.setAtIndex(HALF, i, Float.floatToFloat16((float) (random.nextDouble() * 2 - 1)));
            }
            return b;
        }

        /** {@code n} zeroed I32 values. */
        Buffer i32(String name, long n) {
            return add(Buffers.allocate(name, DType.I32, n));
        }

        /** Quantized rows as raw bytes of {@code dtype} (I8 for Q8_0, U8 for Q4_0), copied from {@code rows}. */
        Buffer bytes(String name, DType dtype, MemorySegment rows) {
            Buffer b = add(Buffers.allocate(name, dtype, rows.byteSize()));
            MemorySegment.copy(rows, 0, b.segment(), 0, rows.byteSize());
            return b;
        }

        /** A buffer made elsewhere, closed with the case from now on. */
        Buffer adopt(Buffer b) {
            return add(b);
        }

        private Buffer add(Buffer b) {
            Buffer old = buffers.put(b.name(), b);
            if (old != null) {
                old.close();
            }
            return b;
        }

        Buffer get(String name) {
            Buffer b = buffers.get(name);
            if (b == null) {
                throw new IllegalArgumentException("no buffer '" + name + "'; the case has " + buffers.keySet());
            }
            return b;
        }

        void close() {
            buffers.values().forEach(Buffer::close);
            buffers.clear();
        }
    }

    private final Device device;
    private final String op;
    private final String shape;
    private final double bytes;
    private final double flops;
    private final Roofline roofline;
    private final Body body;
    private final String kernel;
    private final long[] kernelNanos = new long[KEPT];
    private long runs;
    private Alloc alloc;
    private LongSupplier launch;

    /**
     * @param op and {@code shape}: exactly the Vector API case's, so the report pairs the two
     * @param bytes compulsory traffic of one run, counted as the Vector API case counts it
     */
    DeviceCase(Device device, String op, String shape, double bytes, double flops, Roofline roofline,
            Body body) {
        this(device, op, shape, bytes, flops, roofline, null, body);
    }

    /** @param kernel the kernel's name, appended to {@link #impl()} where an op has several kernels (else null) */
    DeviceCase(Device device, String op, String shape, double bytes, double flops, Roofline roofline,
            String kernel, Body body) {
        if (device.kernelRunner() == null) {
            throw new IllegalArgumentException(device.id() + " launches no kernels (no kernel runner)");
        }
        this.kernel = kernel;
        this.device = device;
        this.op = op;
        this.shape = shape;
        this.bytes = bytes;
        this.flops = flops;
        this.roofline = roofline;
        this.body = body;
    }

    @Override
    public String op() {
        return op;
    }

    @Override
    public String shape() {
        return shape;
    }

    /** {@link BenchDevices#label}, then the kernel, when named. */
    @Override
    public String impl() {
        String where = BenchDevices.label(device);
        return kernel == null ? where : where + " " + kernel;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public double bytes() {
        return bytes;
    }

    @Override
    public double flops() {
        return flops;
    }

    @Override
    public Roofline roofline() {
        return roofline;
    }

    @Override
    public String pairKey() {
        return op + " " + shape;
    }

    @Override
    public void setup() {
        runs = 0;
        alloc = new Alloc(op.hashCode() * 31L + shape.hashCode());
        launch = body.prepare(device.kernelRunner(), alloc);
        launch.getAsLong(); // builds (or loads) the program and pays PoCL's first-launch specialisation
    }

    @Override
    public void run() {
        kernelNanos[(int) (runs++ % KEPT)] = DeviceTime.nanos(launch);
    }

    /** Profiled kernel seconds of the last runs (at most {@value #KEPT}), warm-up runs included when fewer ran. */
    @Override
    public double[] deviceSeconds() {
        int n = (int) Math.min(runs, KEPT);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            s[i] = kernelNanos[i] * 1e-9;
        }
        Arrays.sort(s);
        return s;
    }

    /** A buffer of the set-up case, for checking results. */
    Buffer buffer(String name) {
        return alloc.get(name);
    }

    /**
     * Frees the buffers. The runner belongs to the device and stays open; OpenCL's launch session drops the device
     * mirrors of closed buffers before it makes its next one, so a discrete device's memory goes to the next case.
     */
    @Override
    public void close() {
        if (alloc != null) {
            alloc.close();
            alloc = null;
        }
        launch = null;
    }

    @Override
    public String toString() {
        return op + " " + shape + " " + impl();
    }
}
