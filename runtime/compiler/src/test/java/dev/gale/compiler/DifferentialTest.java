package dev.gale.compiler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.compiler.samples.Samples;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.emulator.Emulator;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KMath;
import dev.gale.opencl.KernelLauncher;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each sample kernel three ways: a plain Java loop (the reference), the emulator (the kernel's Java semantics) and
 * the emitted OpenCL C built and run on the installed OpenCL device. The emulator must equal the reference exactly;
 * the device must equal the emulator exactly except where a transcendental built-in is involved.
 */
class DifferentialTest {
    private static final Emulator EMU = Emulator.parallel(2);

    @TempDir
    static Path cacheDir;

    private static KernelLauncher launcher;

    @BeforeAll
    static void isolateTheDiskCache() {
        System.setProperty("gale.opencl.cacheDir", cacheDir.toString());
    }

    @AfterAll
    static void close() {
        if (launcher != null) {
            launcher.close();
        }
    }

    private static KernelLauncher launcher() {
        if (launcher == null) {
            launcher = KernelLauncher.open(DeviceRunner.device());
        }
        return launcher;
    }

    /** Runs a kernel on fresh copies of the inputs under the emulator and on the device; returns both copies. */
    private static Buffer[][] both(String kernel, Grid grid, Object... args) {
        Object[] emu = copy(args);
        Object[] dev = copy(args);
        EMU.run(Samples.class, kernel, grid, emu);
        launcher().launchInline(Samples.class, kernel, grid, dev);
        return new Buffer[][] {buffers(emu), buffers(dev)};
    }

    private static Object[] copy(Object[] args) {
        Object[] out = args.clone();
        for (int i = 0; i < out.length; i++) {
            if (out[i] instanceof Buffer b) {
                Buffer c = Buffers.allocate(b.name(), b.dtype(), b.length());
                c.segment().copyFrom(b.segment());
                out[i] = c;
            }
        }
        return out;
    }

    private static Buffer[] buffers(Object[] args) {
        return Arrays.stream(args).filter(a -> a instanceof Buffer).toArray(Buffer[]::new);
    }

    private static int[] ints(Buffer b) {
        int[] r = new int[(int) b.length()];
        for (int i = 0; i < r.length; i++) {
            r[i] = b.getInt(i);
        }
        return r;
    }

    private static Buffer i32(String name, int[] v) {
        Buffer b = Buffers.allocate(name, DType.I32, v.length);
        for (int i = 0; i < v.length; i++) {
            b.setInt(i, v[i]);
        }
        return b;
    }

    private static float[] randoms(int n, long seed, Function<Random, Float> f) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = f.apply(r);
        }
        return v;
    }

    @Test
    void vadd() {
        int n = 1000;
        float[] a = randoms(n, 1, r -> r.nextFloat() * 10 - 5);
        float[] b = randoms(n, 2, r -> r.nextFloat() * 10 - 5);
        float[] want = new float[n];
        for (int i = 0; i < n; i++) {
            want[i] = a[i] + b[i];
        }
        Buffer[][] out = both("vadd", Grid.of1(1024, 64), Buffers.f32("a", a), Buffers.f32("b", b),
                Buffers.allocate("c", DType.F32, n), n);
        assertArrayEquals(want, out[0][2].toFloatArray(), "emulator");
        assertArrayEquals(want, out[1][2].toFloatArray(), "OpenCL");
    }

    @Test
    void groupSumTreeReduction() {
        int n = 1000;
        int group = 64;
        float[] in = randoms(n, 3, r -> r.nextFloat());
        float[] want = new float[1024 / group];
        for (int g = 0; g < want.length; g++) {
            float[] s = new float[group];
            for (int l = 0; l < group; l++) {
                int i = g * group + l;
                s[l] = i < n ? in[i] : 0.0f;
            }
            for (int stride = group / 2; stride > 0; stride >>= 1) {
                for (int l = 0; l < stride; l++) {
                    s[l] += s[l + stride];
                }
            }
            want[g] = s[0];
        }
        Buffer[][] out = both("groupSum", Grid.of1(1024, group), Buffers.f32("in", in),
                Buffers.allocate("partial", DType.F32, want.length), n, group);
        assertArrayEquals(want, out[0][1].toFloatArray(), "emulator");
        assertArrayEquals(want, out[1][1].toFloatArray(), "OpenCL");
    }

    @Test
    void scaledGeluWithDeviceFunctionsConstsAndF16() {
        int n = 1000;
        int perItem = 4;
        float scale = 0.75f;
        float[] x = randoms(n, 4, r -> r.nextFloat() * 8 - 4);
        float[] want = new float[n];
        for (int i = 0; i < n; i++) {
            float v = x[i];
            float gelu = 0.5f * v * (1.0f + KMath.tanh(0.7978846f * (v + 0.044715f * (v * v * v))));
            want[i] = Float.float16ToFloat(Float.floatToFloat16(gelu * scale));
        }
        Buffer[][] out = both("scaledGelu", Grid.of1(256, 64), Buffers.f32("x", x),
                Buffers.allocate("out", DType.F16, n), n, scale, perItem);
        assertArrayEquals(want, out[0][1].toFloatArray(), "emulator");
        float[] dev = out[1][1].toFloatArray();
        for (int i = 0; i < n; i++) {
            // tanh is not correctly rounded on devices: allow one F16 ulp.
            float tol = Math.ulp(Float.float16ToFloat(Float.floatToFloat16(Math.abs(want[i])))) * 1.01f
                    + Math.ulp((float) Math.pow(2, -14));
            assertTrue(Math.abs(dev[i] - want[i]) <= tol, "OpenCL at " + i + ": " + dev[i] + " vs " + want[i]);
        }
    }

    @Test
    void histogramWithLocalAndGlobalAtomics() {
        int n = 4000;
        Random r = new Random(5);
        Buffer data = Buffers.allocate("data", DType.U8, n);
        int[] bins = new int[Samples.BINS];
        float total = 0;
        int max = Integer.MIN_VALUE;
        int min = Integer.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            int v = r.nextInt(256);
            data.setInt(i, v);
            bins[v & 15]++;
            total += v * 0.5f;
            max = Math.max(max, v);
            min = Math.min(min, v);
        }
        Buffer[][] out = both("histogram", Grid.of1(4096, 256), data, i32("bins", new int[Samples.BINS]),
                Buffers.allocate("total", DType.F32, 1), i32("stats", new int[] {Integer.MIN_VALUE,
                        Integer.MAX_VALUE, 0}), n);
        for (Buffer[] o : out) {
            assertArrayEquals(bins, ints(o[1]));
            assertEquals(total, o[2].getFloat(0));
            assertArrayEquals(new int[] {max, min, n}, ints(o[3]));
        }
    }

    /** The reference for {@link Samples#semantics}: the same expressions in plain Java. */
    @SuppressWarnings("lossy-conversions")
    static int[] semantics(int x, int y, float g) {
        long big = (long) x * 3000000000L - y;
        long sat = (long) g;
        int c = x;
        c -= y;
        c *= 3;
        c <<= y;
        c >>>= 1;
        c += g;
        c++;
        return new int[] {x << y, x >> y, x >>> y, x / y, x % y, x * y + x, (int) g, (int) (g * 1.0e10f), (int) big,
            (int) (big >>> 32), (int) (sat >> 33), -x + Math.abs(y) + Math.min(x, y) - (x >>> 28), c,
            Float.floatToRawIntBits(Math.max(g, -0.0f)) ^ (y < 0 ? ~x : x / 7),
            (int) (big % -1L) + (int) (big / 1000L) + (x % -1),
            (int) Float.intBitsToFloat(x & 0x3fffffff) + (int) (Math.fma(g, 2.0f, 1.0f) * 8.0f)};
    }

    @Test
    void javaSemanticsOfShiftsDivisionOverflowAndCasts() {
        int[] xs = {0, 1, -1, 7, -7, 123456789, -987654321, Integer.MAX_VALUE, Integer.MIN_VALUE, 0x55555555};
        int[] ys = {1, -1, 2, -2, 31, 32, 33, -33, 63, 64, Integer.MIN_VALUE, Integer.MAX_VALUE, 3, -40};
        float[] gs = {0.0f, -0.0f, 1.5f, -1.5f, 2.5e9f, -2.5e9f, 1e20f, -1e20f, Float.NaN, Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY, 0.49999997f, -7.9f, 3.4e38f, 1e-30f};
        int n = xs.length * ys.length;
        int[] a = new int[n];
        int[] b = new int[n];
        float[] f = new float[n];
        int[] want = new int[n * Samples.SEMANTICS_OUT];
        for (int i = 0; i < n; i++) {
            a[i] = xs[i % xs.length];
            b[i] = ys[i / xs.length];
            f[i] = gs[i % gs.length];
            System.arraycopy(semantics(a[i], b[i], f[i]), 0, want, i * Samples.SEMANTICS_OUT, Samples.SEMANTICS_OUT);
        }
        int global = (n + 31) / 32 * 32;
        Buffer[][] out = both("semantics", Grid.of1(global, 32), i32("a", a), i32("b", b), Buffers.f32("f", f),
                Buffers.allocate("out", DType.I32, (long) n * Samples.SEMANTICS_OUT), n);
        int[] emu = ints(out[0][3]);
        int[] dev = ints(out[1][3]);
        for (int i = 0; i < want.length; i++) {
            int item = i / Samples.SEMANTICS_OUT;
            String at = "output " + i % Samples.SEMANTICS_OUT + " of x=" + a[item] + " y=" + b[item] + " g=" + f[item];
            assertEquals(want[i], emu[i], "emulator, " + at);
            assertEquals(want[i], dev[i], "OpenCL, " + at);
        }
    }

    @Test
    void dequantQ4WithI8ZeroPoints() {
        int nBytes = 500;
        int groupSize = 32;
        Random r = new Random(6);
        Buffer q = Buffers.allocate("q", DType.Q4, 2L * nBytes);
        int groups = (2 * nBytes + groupSize - 1) / groupSize;
        Buffer scales = Buffers.allocate("scales", DType.F32, groups);
        Buffer zeros = Buffers.allocate("zeros", DType.I8, groups);
        float[] want = new float[2 * nBytes];
        for (int g = 0; g < groups; g++) {
            scales.setFloat(g, r.nextFloat() * 0.1f);
            zeros.setInt(g, r.nextInt(16) - 8);
        }
        for (int e = 0; e < 2 * nBytes; e++) {
            int v = r.nextInt(16);
            q.setInt(e, v);
        }
        for (int e = 0; e < 2 * nBytes; e++) {
            want[e] = (q.getInt(e) - zeros.getInt(e / groupSize)) * scales.getFloat(e / groupSize);
        }
        Buffer[][] out = both("dequantQ4", Grid.of1(512, 64), q, scales, zeros,
                Buffers.allocate("out", DType.F32, 2L * nBytes), nBytes, groupSize);
        assertArrayEquals(want, out[0][3].toFloatArray(), "emulator");
        assertArrayEquals(want, out[1][3].toFloatArray(), "OpenCL");
    }

    @Test
    void transpose2dThroughLocalMemory() {
        int rows = 50;
        int cols = 70;
        int tile = 16;
        float[] in = randoms(rows * cols, 7, r -> r.nextFloat());
        float[] want = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                want[j * rows + i] = in[i * cols + j];
            }
        }
        Grid grid = Grid.of2(80, 64, tile, tile);
        Buffer[][] out = both("transpose", grid, Buffers.f32("in", in), Buffers.allocate("out", DType.F32,
                (long) rows * cols), rows, cols, tile);
        assertArrayEquals(want, out[0][1].toFloatArray(), "emulator");
        assertArrayEquals(want, out[1][1].toFloatArray(), "OpenCL");
    }

    /** The reference for {@link Samples#controlFlow}. */
    static float[] controlFlow(float v) {
        boolean neg = v < 0.0f;
        int steps = 0;
        float acc = 0.0f;
        do {
            acc += v % 1.5f;
            v = v * 0.5f;
            steps++;
            if (steps > 20) {
                break;
            }
            if (Math.abs(v) > 100.0f) {
                continue;
            }
            acc -= 0.25f;
        } while (Math.abs(v) > 0.01f);
        long count = 0;
        for (long k = 0; k < steps; k++) {
            count += k;
        }
        int w = 0;
        while (w * w < steps) {
            w++;
        }
        float r = neg && steps > 3 ? acc : Float.isNaN(acc) ? -1.0f : Math.min(acc, (float) count);
        double e = Math.sqrt(Math.abs(v) + 1.0) + Math.sin(v) * Math.cos(v) + Math.pow(2.0, v) + KMath.erf(v)
                + 1 / Math.sqrt(4.0 + v * v) + Math.max(v, 0.0f) + Math.tanh(v) + Math.min(v, 1.0f);
        return new float[] {r + (float) Math.floor(v) + (float) Math.ceil(v) + w, (float) e};
    }

    @Test
    void controlFlowAndMathFunctions() {
        int n = 300;
        float[] x = randoms(n, 8, r -> (r.nextFloat() - 0.5f) * 400);
        x[0] = Float.NaN;
        x[1] = -0.0f;
        x[2] = 1e30f;
        float[] want = new float[2 * n];
        for (int i = 0; i < n; i++) {
            float[] w = controlFlow(x[i]);
            want[2 * i] = w[0];
            want[2 * i + 1] = w[1];
        }
        Buffer[][] out = both("controlFlow", Grid.of1(320, 32), Buffers.f32("x", x),
                Buffers.allocate("out", DType.F32, 2L * n), n);
        for (int k = 0; k < 2; k++) {
            float[] got = out[k][1].toFloatArray();
            String who = k == 0 ? "emulator" : "OpenCL";
            for (int i = 0; i < n; i++) {
                assertEquals(want[2 * i], got[2 * i], who + ", exact part of x=" + x[i]);
                // Transcendentals: a few ulp apart from the double-precision reference.
                float tol = 1e-5f * Math.max(1.0f, Math.abs(want[2 * i + 1]));
                if (Float.isNaN(want[2 * i + 1])) {
                    assertTrue(Float.isNaN(got[2 * i + 1]), who + " NaN at x=" + x[i]);
                } else {
                    assertEquals(want[2 * i + 1], got[2 * i + 1], tol, who + ", math part of x=" + x[i]);
                }
            }
        }
    }

    @Test
    void rmsNormWithBarriersInADeviceFunction() {
        int rows = 5;
        int cols = 200;
        int group = 64;
        float eps = 1e-5f;
        float[] x = randoms(rows * cols, 9, r -> r.nextFloat() * 4 - 2);
        float[] w = randoms(cols, 10, r -> r.nextFloat() + 0.5f);
        float[] want = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            // The same summation order as the kernel: per-item strided partial sums, then the tree.
            float[] partial = new float[group];
            for (int l = 0; l < group; l++) {
                for (int c = l; c < cols; c += group) {
                    float v = x[r * cols + c];
                    partial[l] += v * v;
                }
            }
            for (int stride = group / 2; stride > 0; stride >>= 1) {
                for (int l = 0; l < stride; l++) {
                    partial[l] += partial[l + stride];
                }
            }
            float factor = KMath.rsqrt(partial[0] / cols + eps);
            for (int c = 0; c < cols; c++) {
                want[r * cols + c] = x[r * cols + c] * factor * w[c];
            }
        }
        Buffer[][] out = both("rmsNorm", Grid.of1(rows * group, group), Buffers.f32("x", x), Buffers.f32("w", w),
                Buffers.allocate("out", DType.F32, (long) rows * cols), cols, eps, group);
        assertArrayEquals(want, out[0][2].toFloatArray(), "emulator");
        float[] dev = out[1][2].toFloatArray();
        for (int i = 0; i < want.length; i++) {
            // rsqrt is within 2 ulp on OpenCL devices.
            assertEquals(want[i], dev[i], 4 * Math.ulp(want[i]), "OpenCL at " + i);
        }
    }
}
