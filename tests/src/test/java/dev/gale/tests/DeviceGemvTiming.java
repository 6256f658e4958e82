package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.gemm.GemmF32;
import dev.gale.kernels.gemm.GemmKernels;
import dev.gale.kernels.gemm.GemvF32;
import dev.gale.kernels.gemm.GemvKernels;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q4_0Matmul;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.kernels.quant.Q8_0Matmul;
import dev.gale.kernels.quant.QuantKernels;
import dev.gale.opencl.KernelLauncher;
import dev.gale.opencl.OpenClDevice;
import dev.gale.opencl.OpenClDeviceProvider;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A measurement, not a test: the first OpenCL device's GEMV kernels against the Vector API path in one process
 * (medians; the machine is noisy, so only the ratios mean something). Run with the test classpath:
 * {@code java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp ... dev.gale.tests.DeviceGemvTiming [reps]}.
 */
public final class DeviceGemvTiming {
    private DeviceGemvTiming() {
    }

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        List<Device> devices = new OpenClDeviceProvider().devices();
        if (devices.isEmpty()) {
            System.out.println("no OpenCL device");
            return;
        }
        OpenClDevice device = (OpenClDevice) devices.get(0);
        System.out.println("device " + device.id() + ", " + reps + " launches per median");
        try (KernelLauncher cl = KernelLauncher.open(device)) {
            f32(cl, 4096, 4096, reps);
            quant(cl, false, 4096, 4096, reps);
            quant(cl, true, 4096, 4096, reps);
            quant(cl, true, 14336, 16384, reps);
            gemm(cl, 17, 4096, 4096, Math.max(3, reps / 3));
        }
    }

    static void f32(KernelLauncher cl, int out, int in, int reps) {
        SplittableRandom r = new SplittableRandom(1);
        try (Buffer w = Buffers.f32("w", Ops.random(r, out * in, 1)); Buffer x = Buffers.f32("x", Ops.random(r, in, 1));
             Buffer y = Buffers.allocate("y", DType.F32, out)) {
            long[] vec = new long[reps];
            long[] dev = new long[reps];
            long[] wall = new long[reps];
            Grid grid = Grid.of1(Ops.roundUp(out, 64), 64);
            for (int i = -3; i < reps; i++) {
                long t0 = System.nanoTime();
                GemvF32.gemv(w.segment(), 0, x.segment(), 0, y.segment(), 0, out, in);
                long t1 = System.nanoTime();
                long d = cl.launchInline(GemvKernels.class, "gemvF32Rows16", grid, w, x, y, out, in);
                long t2 = System.nanoTime();
                if (i >= 0) {
                    vec[i] = t1 - t0;
                    dev[i] = d;
                    wall[i] = t2 - t1;
                }
            }
            report("F32 gemv " + out + "x" + in + " gemvF32Rows16", 4L * out * in, vec, dev, wall);
        }
    }

    static void quant(KernelLauncher cl, boolean q4, int rows, int in, int reps) {
        SplittableRandom r = new SplittableRandom(2);
        long rowBytes = q4 ? Q4_0.rowBytes(in) : Q8_0.rowBytes(in);
        long bytes = rowBytes * rows;
        try (Buffer w = Buffers.allocate("w", q4 ? DType.U8 : DType.I8, bytes);
             Buffer x = Buffers.f32("x", Ops.random(r, in, 1)); Buffer y = Buffers.allocate("y", DType.F32, rows)) {
            try (Buffer row = Buffers.f32("row", Ops.random(r, in, 1))) {
                for (int o = 0; o < rows; o++) {
                    if (q4) {
                        Q4_0.quantize(row.segment(), 0, w.segment(), o * rowBytes, in);
                    } else {
                        Q8_0.quantize(row.segment(), 0, w.segment(), o * rowBytes, in);
                    }
                }
            }
            String[] kernels = q4 ? new String[] {"q4Gemv", "q4Gemv@1", "q4GemvGroup"} : new String[] {"q8Gemv", "q8Gemv@1"};
            for (String variant : kernels) {
                // "name@L": the kernel with work groups of L items instead of 64
                String k = variant.contains("@") ? variant.substring(0, variant.indexOf('@')) : variant;
                int local = variant.contains("@") ? Integer.parseInt(variant.substring(variant.indexOf('@') + 1)) : 64;
                long[] vec = new long[reps];
                long[] dev = new long[reps];
                long[] wall = new long[reps];
                boolean group = k.endsWith("Group");
                Grid grid = group ? Grid.of1(rows * 8, 8) : Grid.of1(Ops.roundUp(rows, local), local);
                for (int i = -3; i < reps; i++) {
                    long t0 = System.nanoTime();
                    if (q4) {
                        Q4_0Matmul.matmulF32Parallel(w.segment(), 0, rows, in, x.segment(), 0, 1, y.segment(), 0);
                    } else {
                        Q8_0Matmul.matmulF32Parallel(w.segment(), 0, rows, in, x.segment(), 0, 1, y.segment(), 0);
                    }
                    long t1 = System.nanoTime();
                    long d = group ? cl.launchInline(QuantKernels.class, k, grid, w, x, y, rows, in, 8)
                            : cl.launchInline(QuantKernels.class, k, grid, w, x, y, rows, in);
                    long t2 = System.nanoTime();
                    if (i >= 0) {
                        vec[i] = t1 - t0;
                        dev[i] = d;
                        wall[i] = t2 - t1;
                    }
                }
                report((q4 ? "Q4_0" : "Q8_0") + " gemv " + rows + "x" + in + " (" + bytes / (1 << 20) + " MiB) " + variant,
                        bytes, vec, dev, wall);
            }
        }
    }

    /** Q4_0 and Q8_0 GEMM and the tiled F32 GEMM at {@code tokens × out × in}. */
    static void gemm(KernelLauncher cl, int tokens, int out, int in, int reps) {
        SplittableRandom r = new SplittableRandom(3);
        try (Buffer wf = Buffers.f32("wf", Ops.random(r, out * in, 1));
             Buffer x = Buffers.f32("x", Ops.random(r, tokens * in, 1));
             Buffer y = Buffers.allocate("y", DType.F32, (long) tokens * out);
             Buffer w4 = Buffers.allocate("w4", DType.U8, Q4_0.rowBytes(in) * out);
             Buffer w8 = Buffers.allocate("w8", DType.I8, Q8_0.rowBytes(in) * out)) {
            Q4_0.quantize(wf.segment(), 0, w4.segment(), 0, out * in);
            Q8_0.quantize(wf.segment(), 0, w8.segment(), 0, out * in);
            Grid qgrid = Grid.of2(Ops.roundUp(out, 16), (tokens + 3) / 4, 16, 1);
            Grid fgrid = Grid.of2((out + 31) / 32 * 16, (tokens + 7) / 8 * 4, 16, 4);
            for (int kind = 0; kind < 3; kind++) {
                long[] vec = new long[reps];
                long[] dev = new long[reps];
                long[] wall = new long[reps];
                for (int i = -1; i < reps; i++) {
                    long t0 = System.nanoTime();
                    if (kind == 0) {
                        Q4_0Matmul.matmulF32Parallel(w4.segment(), 0, out, in, x.segment(), 0, tokens, y.segment(), 0);
                    } else if (kind == 1) {
                        Q8_0Matmul.matmulF32Parallel(w8.segment(), 0, out, in, x.segment(), 0, tokens, y.segment(), 0);
                    } else {
                        GemmF32.gemm(wf.segment(), 0, x.segment(), 0, y.segment(), 0, tokens, out, in);
                    }
                    long t1 = System.nanoTime();
                    long d = kind == 0 ? cl.launchInline(QuantKernels.class, "q4Gemm", qgrid, w4, x, y, out, in, tokens)
                            : kind == 1 ? cl.launchInline(QuantKernels.class, "q8Gemm", qgrid, w8, x, y, out, in, tokens)
                            : cl.launchInline(GemmKernels.class, "gemmF32Tiled", fgrid, wf, x, y, tokens, out, in, 16,
                                    4, 16);
                    long t2 = System.nanoTime();
                    if (i >= 0) {
                        vec[i] = t1 - t0;
                        dev[i] = d;
                        wall[i] = t2 - t1;
                    }
                }
                String what = (kind == 0 ? "Q4_0 gemm q4Gemm" : kind == 1 ? "Q8_0 gemm q8Gemm" : "F32 gemm gemmF32Tiled")
                        + " " + tokens + "x" + out + "x" + in;
                long bytes = kind == 0 ? w4.segment().byteSize() : kind == 1 ? w8.segment().byteSize()
                        : wf.segment().byteSize();
                report(what, bytes, vec, dev, wall);
            }
        }
    }

    static void report(String what, long bytes, long[] vec, long[] dev, long[] wall) {
        double v = median(vec) / 1e6;
        double d = median(dev) / 1e6;
        double l = median(wall) / 1e6;
        System.out.printf(Locale.ROOT, "%-52s vector-api %7.2f ms (%5.1f GB/s)  opencl device %7.2f ms (%5.1f GB/s),"
                + " launch wall %7.2f ms  ratio vector/device %.2f%n", what, v, bytes / v / 1e6, d, bytes / d / 1e6,
                l, v / d);
    }

    static double median(long[] a) {
        long[] s = a.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
