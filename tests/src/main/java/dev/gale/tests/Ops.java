package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.activation.ActivationKernels;
import dev.gale.kernels.activation.Gelu;
import dev.gale.kernels.activation.ResidualAdd;
import dev.gale.kernels.activation.Silu;
import dev.gale.kernels.activation.Softmax;
import dev.gale.kernels.activation.SwiGlu;
import dev.gale.kernels.gemm.GemmF16;
import dev.gale.kernels.gemm.GemmF32;
import dev.gale.kernels.gemm.GemmKernels;
import dev.gale.kernels.gemm.GemvF16;
import dev.gale.kernels.gemm.GemvF32;
import dev.gale.kernels.gemm.GemvGeometry;
import dev.gale.kernels.gemm.GemvKernels;
import dev.gale.kernels.norm.LayerNorm;
import dev.gale.kernels.norm.NormKernels;
import dev.gale.kernels.norm.RmsNorm;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.kernels.quant.QuantKernels;
import dev.gale.kernels.quant.QuantMatMulOp;
import dev.gale.kernels.rope.Rope;
import dev.gale.kernels.rope.RopeKernels;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import dev.gale.kernels.sampling.Argmax;
import dev.gale.kernels.sampling.SamplingKernels;
import dev.gale.kernels.sampling.TopK;
import dev.gale.kernels.sampling.TopKKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The ops of the matrix, each over awkward sizes (1, 7, 31, 33, 4095, 4097 where meaningful) and special values
 * (NaN, ±Inf, −Inf masks, fully masked rows, all-equal rows, ±0, subnormals, huge values). Every case computes the
 * family's scalar {@code reference(...)} and compares each output element of the target with it.
 */
public final class Ops {
    static final int[] SIZES = {1, 7, 31, 33, 4095, 4097};
    /** Work-group size of the row-per-group kernels and local size of the element-wise ones. */
    static final int GROUP = 64;
    static final double REL = Numerics.F32_REL;
    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final float[] SPECIALS = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f,
        1e30f, -1e30f, 100f, -100f, 20f, -20f, 1e-40f, -1e-40f, Float.MIN_NORMAL, 3.5f, -3.5f, 1f, -1f};

    private Ops() {
    }

    /** Every op with a device kernel, in matrix order. */
    public static List<OpCheck> all() {
        return List.of(
                unary("silu", Silu::reference, Silu::apply, "silu"),
                unary("gelu_erf", (x, xo, o, oo, n) -> Gelu.reference(Gelu.Variant.ERF, x, xo, o, oo, n),
                        (x, xo, o, oo, n) -> Gelu.apply(Gelu.Variant.ERF, x, xo, o, oo, n), "geluErf"),
                unary("gelu_tanh", (x, xo, o, oo, n) -> Gelu.reference(Gelu.Variant.TANH, x, xo, o, oo, n),
                        (x, xo, o, oo, n) -> Gelu.apply(Gelu.Variant.TANH, x, xo, o, oo, n), "geluTanh"),
                swiGlu(),
                residualAdd(),
                softmax(),
                rmsNorm(),
                layerNorm(),
                rope(false),
                rope(true),
                argmax(),
                SamplingOps.sample(),
                gemv("gemv_f32_rows", "gemvF32Rows", false, new int[][] {{1, 1}, {7, 33}, {33, 7}, {4097, 31},
                    {31, 4097}}),
                gemv("gemv_f32_rows16", "gemvF32Rows16", false, new int[][] {{1, 1}, {7, 33}, {33, 7},
                    {4097, 31}, {31, 4097}, {3, 4096}}),
                gemv("gemv_f32_group", "gemvF32Group", false, new int[][] {{1, 1}, {7, 33}, {33, 7}, {31, 4097},
                    {5, 4095}}),
                gemv("gemv_f16_group", "gemvF16Group", true, new int[][] {{1, 1}, {7, 33}, {33, 7}, {31, 4097},
                    {5, 4095}}),
                gemv("gemv_f16_rows", "gemvF16Rows", true, new int[][] {{1, 1}, {7, 33}, {33, 7}, {4097, 31},
                    {31, 4097}, {3, 4096}}),
                gemm(false),
                gemm(true),
                quant("q8_0_gemv", false, new int[][] {{1, 1, 32}, {1, 7, 64}, {1, 33, 4064}, {1, 4097, 64},
                    {1, 5, 4128}}),
                quant("q4_0_gemv", true, new int[][] {{1, 1, 32}, {1, 7, 64}, {1, 33, 4064}, {1, 4097, 64},
                    {1, 5, 4128}}),
                quant("q4_0_gemv_group", true, new int[][] {{1, 1, 32}, {1, 7, 64}, {1, 3, 4064}, {1, 33, 96},
                    {1, 5, 4128}}),
                quant("q8_0_gemm", false, new int[][] {{3, 1, 32}, {3, 7, 64}, {17, 9, 4128}, {17, 33, 4064},
                    {2, 9, 96}, {53, 21, 224}}),
                quant("q4_0_gemm", true, new int[][] {{3, 1, 32}, {3, 7, 64}, {17, 9, 4128}, {17, 33, 4064},
                    {2, 9, 96}, {53, 21, 224}}),
                topK(),
                AttentionDecodeOps.decode(DType.F32), AttentionDecodeOps.decode(DType.F16),
                KvQuantOps.append(), KvQuantOps.decodePartial(),
                SinkOps.decode(), SinkOps.append(),
                AttentionPrefillOps.prefill(),
                AttentionPrefillOps.prefillCached(DType.F32), AttentionPrefillOps.prefillCached(DType.F16),
                W4AxOps.gemv(), W4AxOps.gemm(),
                DynamicInt8Ops.quantize(), DynamicInt8Ops.gemm(), DynamicInt8Ops.biasAdd(),
                QuantSplitOps.gemv(false, 0), QuantSplitOps.gemv(true, 0),
                QuantSplitOps.gemv(false, GemvGeometry.GPU_GROUP), QuantSplitOps.gemv(true, 8));
    }

    /** An element-wise F32 op {@code (x, xOff, out, outOff, n)}. */
    @FunctionalInterface
    interface Unary {
        void apply(MemorySegment x, long xOff, MemorySegment out, long outOff, long n);
    }

    static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }

    static Grid elementGrid(int n) {
        return Grid.of1(roundUp(n, GROUP), GROUP);
    }

    static float[] random(SplittableRandom r, int n, double spread) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) ((r.nextDouble() * 2 - 1) * spread);
        }
        return v;
    }

    /** Random inputs of every size, and one input of the special values followed by a random tail. */
    static List<float[]> elementInputs(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<float[]> cases = new ArrayList<>();
        for (int n : SIZES) {
            cases.add(random(r, n, 8));
        }
        float[] s = random(r, SPECIALS.length + 15, 8);
        System.arraycopy(SPECIALS, 0, s, 0, SPECIALS.length);
        cases.add(s);
        return cases;
    }

    static Buffer f32(String name, int n) {
        return Buffers.allocate(name, DType.F32, n);
    }

    static OpCheck unary(String name, Unary reference, Unary vector, String kernel) {
        return new OpCheck(name, "|err| <= 1e-5 * max(|x|, |ref|) per element", (t, e) -> {
            for (float[] xs : elementInputs(name.hashCode())) {
                int n = xs.length;
                try (Buffer x = Buffers.f32("x", xs); Buffer want = f32("want", n); Buffer got = f32("got", n)) {
                    reference.apply(x.segment(), 0, want.segment(), 0, n);
                    if (t.vectorApi()) {
                        vector.apply(x.segment(), 0, got.segment(), 0, n);
                    } else {
                        t.kernel(ActivationKernels.class, kernel, elementGrid(n), x, got, n);
                    }
                    for (int i = 0; i < n; i++) {
                        double w = want.getFloat(i);
                        e.check(name + " n=" + n + " x[" + i + "]=" + xs[i], got.getFloat(i), w,
                                Math.max(Math.abs(xs[i]), Math.abs(w)), REL);
                    }
                }
            }
        });
    }

    static OpCheck swiGlu() {
        return new OpCheck("swiglu", "|err| <= 1e-5 * max(|gate*up|, |ref|) per element", (t, e) -> {
            List<float[]> gates = elementInputs(11);
            List<float[]> ups = elementInputs(12);
            for (int c = 0; c < gates.size(); c++) {
                float[] gs = gates.get(c);
                float[] us = ups.get(c);
                if (c == gates.size() - 1) {
                    // the special values meet each other in reverse order: Inf·0, NaN·Inf, −Inf·huge, …
                    us = reversed(us);
                }
                int n = gs.length;
                try (Buffer g = Buffers.f32("gate", gs); Buffer u = Buffers.f32("up", us); Buffer want = f32("want", n);
                     Buffer got = f32("got", n)) {
                    SwiGlu.reference(g.segment(), 0, u.segment(), 0, want.segment(), 0, n);
                    if (t.vectorApi()) {
                        SwiGlu.apply(g.segment(), 0, u.segment(), 0, got.segment(), 0, n);
                    } else {
                        t.kernel(ActivationKernels.class, "swiGlu", elementGrid(n), g, u, got, n);
                    }
                    for (int i = 0; i < n; i++) {
                        double w = want.getFloat(i);
                        e.check("swiglu n=" + n + " i=" + i, got.getFloat(i), w,
                                Math.max(Math.abs((double) gs[i] * us[i]), Math.abs(w)), REL);
                    }
                }
            }
        });
    }

    private static float[] reversed(float[] v) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = v[v.length - 1 - i];
        }
        return r;
    }

    static OpCheck residualAdd() {
        return new OpCheck("residual_add", "|err| <= 1e-5 * (|a| + |b|) per element", (t, e) -> {
            List<float[]> as = elementInputs(21);
            List<float[]> bs = elementInputs(22);
            for (int c = 0; c < as.size(); c++) {
                float[] av = as.get(c);
                float[] bv = c == as.size() - 1 ? reversed(bs.get(c)) : bs.get(c);
                int n = av.length;
                try (Buffer a = Buffers.f32("a", av); Buffer b = Buffers.f32("b", bv); Buffer want = f32("want", n);
                     Buffer got = f32("got", n)) {
                    ResidualAdd.reference(a.segment(), 0, b.segment(), 0, want.segment(), 0, n);
                    if (t.vectorApi()) {
                        ResidualAdd.apply(a.segment(), 0, b.segment(), 0, got.segment(), 0, n);
                    } else {
                        t.kernel(ActivationKernels.class, "residualAdd", elementGrid(n), a, b, got, n);
                    }
                    for (int i = 0; i < n; i++) {
                        e.check("residual_add n=" + n + " i=" + i, got.getFloat(i), want.getFloat(i),
                                Math.abs((double) av[i]) + Math.abs((double) bv[i]), REL);
                    }
                }
            }
        });
    }

    /** Rows of {@code dim}: random, masked, fully masked, all equal, with NaN, with +Inf (specials only if asked). */
    static float[] rows(SplittableRandom r, int rows, int dim, boolean specials, double spread) {
        float[] x = random(r, rows * dim, spread);
        if (!specials) {
            return x;
        }
        for (int i = 0; i < dim; i++) {
            if (i % 3 == 1) {
                x[i] = Float.NEGATIVE_INFINITY;
            }
            x[dim + i] = Float.NEGATIVE_INFINITY;
            x[2 * dim + i] = 3.5f;
        }
        x[3 * dim + dim / 2] = Float.NaN;
        x[4 * dim + dim / 3] = Float.POSITIVE_INFINITY;
        return x;
    }

    static OpCheck softmax() {
        return new OpCheck("softmax", "|err| <= 1e-5 (each row sums to 1)", (t, e) -> {
            SplittableRandom r = new SplittableRandom(31);
            List<Object[]> cases = new ArrayList<>();
            for (int dim : SIZES) {
                cases.add(new Object[] {3, dim, 1f, rows(r, 3, dim, false, 6)});
            }
            for (int dim : new int[] {7, 33, 4097}) {
                cases.add(new Object[] {6, dim, 1f, rows(r, 6, dim, true, 6)});
                cases.add(new Object[] {6, dim, 0.125f, rows(r, 6, dim, true, 40)});
            }
            for (Object[] c : cases) {
                int rows = (Integer) c[0];
                int dim = (Integer) c[1];
                float scale = (Float) c[2];
                float[] xs = (float[]) c[3];
                int n = rows * dim;
                try (Buffer x = Buffers.f32("x", xs); Buffer want = f32("want", n); Buffer got = f32("got", n)) {
                    Softmax.reference(x.segment(), 0, want.segment(), 0, rows, dim, scale);
                    if (t.vectorApi()) {
                        Softmax.apply(x.segment(), 0, got.segment(), 0, rows, dim, scale);
                    } else {
                        t.kernel(ActivationKernels.class, "softmax", Grid.of1(rows * GROUP, GROUP), x, got, dim, scale,
                                GROUP);
                    }
                    for (int i = 0; i < n; i++) {
                        e.check("softmax " + rows + "x" + dim + " scale " + scale + " row " + i / dim + " i=" + i % dim,
                                got.getFloat(i), want.getFloat(i), 1.0, REL);
                    }
                }
            }
        });
    }

    /** Rows: random, zeros, with NaN, with +Inf, huge (1e15), tiny (1e-20). */
    static float[] normRows(SplittableRandom r, int rows, int dim, boolean specials) {
        float[] x = random(r, rows * dim, 3);
        if (specials) {
            for (int i = 0; i < dim; i++) {
                x[dim + i] = 0f;
                x[4 * dim + i] *= 1e15f;
                x[5 * dim + i] *= 1e-20f;
                x[6 * dim + i] = 2.5f;
            }
            x[2 * dim + dim / 2] = Float.NaN;
            x[3 * dim + dim / 3] = Float.POSITIVE_INFINITY;
        }
        return x;
    }

    static OpCheck rmsNorm() {
        return new OpCheck("rmsnorm", "|err| <= 1e-5 * |ref| per element", (t, e) -> {
            SplittableRandom r = new SplittableRandom(41);
            for (int dim : SIZES) {
                for (boolean specials : new boolean[] {false, true}) {
                    int rows = specials ? 7 : 3;
                    int n = rows * dim;
                    float eps = 1e-5f;
                    try (Buffer x = Buffers.f32("x", normRows(r, rows, dim, specials));
                         Buffer w = Buffers.f32("w", random(r, dim, 2)); Buffer want = f32("want", n);
                         Buffer got = f32("got", n)) {
                        RmsNorm.reference(x.segment(), 0, w.segment(), 0, want.segment(), 0, rows, dim, eps);
                        if (t.vectorApi()) {
                            RmsNorm.apply(x.segment(), 0, w.segment(), 0, got.segment(), 0, rows, dim, eps);
                        } else {
                            t.kernel(NormKernels.class, "rmsNorm", Grid.of1(rows * GROUP, GROUP), x, w, got, dim, eps,
                                    GROUP);
                        }
                        for (int i = 0; i < n; i++) {
                            double want1 = want.getFloat(i);
                            e.check("rmsnorm " + rows + "x" + dim + " row " + i / dim + " i=" + i % dim,
                                    got.getFloat(i), want1, Math.abs(want1), REL);
                        }
                    }
                }
            }
        });
    }

    static OpCheck layerNorm() {
        return new OpCheck("layernorm", "|err| <= 1e-5 * ((|x|+|mean|)*rstd*|g| + |b|) per element", (t, e) -> {
            SplittableRandom r = new SplittableRandom(51);
            for (int dim : SIZES) {
                for (boolean specials : new boolean[] {false, true}) {
                    int rows = specials ? 7 : 3;
                    int n = rows * dim;
                    float eps = 1e-5f;
                    float[] xs = normRows(r, rows, dim, specials);
                    if (specials) {
                        for (int i = 0; i < dim; i++) {
                            xs[i] = 1000f + xs[i] * 0.01f;
                        }
                    }
                    float[] gs = random(r, dim, 2);
                    float[] bs = random(r, dim, 1);
                    try (Buffer x = Buffers.f32("x", xs); Buffer g = Buffers.f32("g", gs);
                         Buffer b = Buffers.f32("b", bs); Buffer want = f32("want", n); Buffer got = f32("got", n)) {
                        LayerNorm.reference(x.segment(), 0, g.segment(), 0, b.segment(), 0, want.segment(), 0, rows,
                                dim, eps);
                        if (t.vectorApi()) {
                            LayerNorm.apply(x.segment(), 0, g.segment(), 0, b.segment(), 0, got.segment(), 0, rows,
                                    dim, eps);
                        } else {
                            t.kernel(NormKernels.class, "layerNorm", Grid.of1(rows * GROUP, GROUP), x, g, b, got, dim,
                                    eps, GROUP);
                        }
                        for (int row = 0; row < rows; row++) {
                            double mean = 0;
                            for (int i = 0; i < dim; i++) {
                                mean += xs[row * dim + i];
                            }
                            mean /= dim;
                            double var = 0;
                            for (int i = 0; i < dim; i++) {
                                double d = xs[row * dim + i] - mean;
                                var += d * d;
                            }
                            double rstd = 1 / Math.sqrt(var / dim + eps);
                            for (int i = 0; i < dim; i++) {
                                int k = row * dim + i;
                                double scale = (Math.abs(xs[k]) + Math.abs(mean)) * rstd * Math.abs(gs[i])
                                        + Math.abs(bs[i]);
                                e.check("layernorm " + rows + "x" + dim + " row " + row + " i=" + i, got.getFloat(k),
                                        want.getFloat(k), scale, REL);
                            }
                        }
                    }
                }
            }
        });
    }

    /** RoPE with angles computed on the device ({@code tables} false) or read from cos/sin tables. */
    static OpCheck rope(boolean tables) {
        String name = tables ? "rope_table" : "rope";
        String tol = tables ? "|err| <= 1e-5 * |pair| per element"
                : "|err| <= (1e-5 + 20u*angle) * |pair| (angle in F32 on devices)";
        return new OpCheck(name, tol, (t, e) -> {
            SplittableRandom r = new SplittableRandom(61);
            int[][] shapes = {{1, 1, 2, 0}, {3, 2, 8, 7}, {1, 4, 64, 4095}, {7, 1, 128, 31}, {2, 3, 64, 33}};
            for (RopeLayout layout : RopeLayout.values()) {
                for (double theta : new double[] {1e4, 5e5}) {
                    for (int[] s : shapes) {
                        int tokens = s[0];
                        int heads = s[1];
                        int d = s[2];
                        int pos = s[3];
                        int n = tokens * heads * d;
                        float[] xs = random(r, n, 3);
                        int[] positions = new int[tokens];
                        for (int k = 0; k < tokens; k++) {
                            positions[k] = pos + k;
                        }
                        RopeTable table = new RopeTable(pos + tokens, d, theta, layout);
                        int half = d / 2;
                        float[] cosv = new float[(pos + tokens) * half];
                        float[] sinv = new float[(pos + tokens) * half];
                        for (int p = 0; p < pos + tokens; p++) {
                            for (int i = 0; i < half; i++) {
                                cosv[p * half + i] = table.cos(p, i);
                                sinv[p * half + i] = table.sin(p, i);
                            }
                        }
                        try (Buffer want = Buffers.f32("want", xs); Buffer got = Buffers.f32("x", xs);
                             Buffer cos = Buffers.f32("cos", cosv); Buffer sin = Buffers.f32("sin", sinv)) {
                            Rope.reference(table, want.segment(), 0, tokens, heads, positions);
                            if (t.vectorApi()) {
                                Rope.apply(table, got.segment(), 0, tokens, heads, positions);
                            } else if (tables) {
                                t.kernel(RopeKernels.class, "ropeTable", elementGrid(tokens * heads * half), got, cos,
                                        sin, tokens, heads, d, pos, layout == RopeLayout.HALF_SPLIT ? 1 : 0);
                            } else {
                                int pairs = tokens * heads * d / 2;
                                t.kernel(RopeKernels.class, "rope", elementGrid(pairs), got, tokens, heads, d, pos,
                                        (float) theta, layout == RopeLayout.HALF_SPLIT ? 1 : 0);
                            }
                            for (int k = 0; k < n; k++) {
                                int j = k % d;
                                long rowBase = k - j;
                                int pair = layout == RopeLayout.HALF_SPLIT ? j % half : j / 2;
                                int ia = layout == RopeLayout.HALF_SPLIT ? pair : 2 * pair;
                                int ib = layout == RopeLayout.HALF_SPLIT ? pair + half : 2 * pair + 1;
                                double norm = Math.hypot(xs[(int) rowBase + ia], xs[(int) rowBase + ib]);
                                int p = positions[k / (heads * d)];
                                double angle = p * RopeTable.angleStep(theta, d, pair);
                                e.check(name + " " + layout + " theta " + theta + " " + tokens + "x" + heads + "x" + d
                                        + " pos " + p + " j=" + j, got.getFloat(k), want.getFloat(k), norm,
                                        tables ? REL : REL + 20 * Numerics.U_F32 * angle);
                            }
                        }
                    }
                }
            }
        });
    }

    static OpCheck argmax() {
        return new OpCheck("argmax", "exact index (first NaN wins, then first maximum; -0 == +0)", (t, e) -> {
            SplittableRandom r = new SplittableRandom(71);
            List<float[]> cases = new ArrayList<>();
            for (int n : SIZES) {
                cases.add(random(r, n, 10));
            }
            float[] nan = random(r, 4097, 10);
            nan[1234] = Float.NaN;
            nan[3000] = Float.NaN;
            nan[17] = Float.POSITIVE_INFINITY;
            cases.add(nan);
            cases.add(new float[] {3.5f, 3.5f, 3.5f, 3.5f, 3.5f, 3.5f, 3.5f, 3.5f, 3.5f});
            float[] ties = random(r, 4095, 10);
            ties[4000] = 50f;
            ties[130] = 50f;
            ties[2000] = 50f;
            cases.add(ties);
            cases.add(new float[] {-0f, 0f, -0f, 0f, -1f});
            cases.add(new float[] {0f, -0f, -1f});
            float[] ninf = new float[100];
            java.util.Arrays.fill(ninf, Float.NEGATIVE_INFINITY);
            cases.add(ninf);
            float[] last = random(r, 4097, 10);
            last[4096] = 11f;
            cases.add(last);
            float[] firstNan = random(r, 33, 1);
            firstNan[0] = Float.NaN;
            firstNan[5] = Float.NaN;
            cases.add(firstNan);
            for (float[] xs : cases) {
                int n = xs.length;
                try (Buffer x = Buffers.f32("x", xs); Buffer out = Buffers.allocate("index", DType.I32, 1)) {
                    int want = Argmax.reference(x.segment(), 0, n);
                    if (t.vectorApi()) {
                        int got = Argmax.apply(x.segment(), 0, n);
                        e.exact("argmax n=" + n, got, want);
                    } else {
                        // PoCL's group and a GPU-sized one: the tree of merges has 6 and 8 levels.
                        for (int group : new int[] {GROUP, 256}) {
                            out.setInt(0, -7);
                            t.kernel(SamplingKernels.class, "argmax", Grid.of1(group, group), x, out, n, group);
                            e.exact("argmax n=" + n + " group=" + group, out.getInt(0), want);
                        }
                    }
                }
            }
        });
    }

    static OpCheck gemv(String name, String kernel, boolean f16, int[][] shapes) {
        String tol = "|err| <= max(1e-5, (in/16 + 16)u) * sum|w*x| per output (Numerics.dotBound)";
        return new OpCheck(name, tol, (t, e) -> {
            SplittableRandom r = new SplittableRandom(name.hashCode());
            for (int[] s : shapes) {
                int out = s[0];
                int in = s[1];
                float[] ws = random(r, out * in, 1);
                float[] xs = random(r, in, 2);
                try (Buffer w = f16 ? Buffers.allocate("w", DType.F16, (long) out * in) : Buffers.f32("w", ws);
                     Buffer x = Buffers.f32("x", xs); Buffer want = f32("want", out); Buffer got = f32("got", out)) {
                    if (f16) {
                        for (int i = 0; i < ws.length; i++) {
                            short h = Float.floatToFloat16(ws[i]);
                            w.segment().setAtIndex(HALF, i, h);
                            ws[i] = Float.float16ToFloat(h);
                        }
                        GemvF16.reference(w.segment(), 0, x.segment(), 0, want.segment(), 0, out, in);
                    } else {
                        GemvF32.reference(w.segment(), 0, x.segment(), 0, want.segment(), 0, out, in);
                    }
                    if (t.vectorApi()) {
                        if (f16) {
                            GemvF16.rows(w.segment(), 0, x.segment(), 0, got.segment(), 0, out, in, 0, out);
                        } else {
                            GemvF32.rows(w.segment(), 0, x.segment(), 0, got.segment(), 0, out, in, 0, out);
                        }
                    } else if (kernel.startsWith("gemvF32Rows") || kernel.equals("gemvF16Rows")) {
                        t.kernel(GemvKernels.class, kernel, elementGrid(out), w, x, got, out, in);
                    } else {
                        t.kernel(GemvKernels.class, kernel, Grid.of1(out * GROUP, GROUP), w, x, got, out, in, GROUP);
                    }
                    double tolRel = Math.max(REL, (in / 16.0 + 16) * Numerics.U_F32);
                    for (int o = 0; o < out; o++) {
                        double sumAbs = 0;
                        for (int i = 0; i < in; i++) {
                            sumAbs += Math.abs((double) ws[o * in + i] * xs[i]);
                        }
                        e.check(name + " " + out + "x" + in + " row " + o, got.getFloat(o), want.getFloat(o), sumAbs,
                                tolRel);
                    }
                }
            }
        });
    }

    /** Shapes {tokens, out, in} of the tiled GEMMs: tails in every dimension, one K slice and many. */
    static final int[][] GEMM_SHAPES = {{1, 1, 1}, {3, 7, 33}, {17, 33, 100}, {5, 70, 257}, {2, 9, 1025},
        {3, 7, 16}};
    /**
     * Tiled GEMM launch: {@code lx × ly} items, each a 2 × 2 register tile, slices of {@code TK} inputs (the odd cases
     * use 8 × 2 items and slices of 8).
     */
    static final int GEMM_LX = 16;
    static final int GEMM_LY = 4;
    static final int GEMM_TK = 16;

    static OpCheck gemm(boolean f16) {
        String name = f16 ? "gemm_f16_tiled" : "gemm_f32_tiled";
        String tol = "|err| <= max(1e-5, (in/16 + 16)u) * sum|w*x| per output (Numerics.dotBound)";
        return new OpCheck(name, tol, (t, e) -> {
            SplittableRandom r = new SplittableRandom(name.hashCode());
            for (int c = 0; c < GEMM_SHAPES.length; c++) {
                int tokens = GEMM_SHAPES[c][0];
                int out = GEMM_SHAPES[c][1];
                int in = GEMM_SHAPES[c][2];
                float[] ws = random(r, out * in, 1);
                float[] xs = random(r, tokens * in, 2);
                if (c == 1) {
                    // a NaN activation poisons token 0; an infinite weight makes row 2 infinite for the others
                    xs[5] = Float.NaN;
                    ws[2 * in + 9] = Float.POSITIVE_INFINITY;
                }
                try (Buffer w = f16 ? Buffers.allocate("w", DType.F16, (long) out * in) : Buffers.f32("w", ws);
                     Buffer x = Buffers.f32("x", xs); Buffer want = f32("want", tokens * out);
                     Buffer got = f32("got", tokens * out)) {
                    if (f16) {
                        for (int i = 0; i < ws.length; i++) {
                            short h = Float.floatToFloat16(ws[i]);
                            w.segment().setAtIndex(HALF, i, h);
                            ws[i] = Float.float16ToFloat(h);
                        }
                        GemmF16.reference(w.segment(), 0, x.segment(), 0, want.segment(), 0, tokens, out, in);
                    } else {
                        GemmF32.reference(w.segment(), 0, x.segment(), 0, want.segment(), 0, tokens, out, in);
                    }
                    if (t.vectorApi()) {
                        if (f16) {
                            GemmF16.gemm(w.segment(), 0, x.segment(), 0, got.segment(), 0, tokens, out, in);
                        } else {
                            GemmF32.gemm(w.segment(), 0, x.segment(), 0, got.segment(), 0, tokens, out, in);
                        }
                    } else {
                        // odd cases run a second specialisation: 8 × 2 items, slices of 8
                        int lx = c % 2 == 1 ? 8 : GEMM_LX;
                        int ly = c % 2 == 1 ? 2 : GEMM_LY;
                        int tk = c % 2 == 1 ? 8 : GEMM_TK;
                        Grid grid = Grid.of2((out + 2 * lx - 1) / (2 * lx) * lx, (tokens + 2 * ly - 1) / (2 * ly) * ly,
                                lx, ly);
                        t.kernel(GemmKernels.class, f16 ? "gemmF16Tiled" : "gemmF32Tiled", grid, w, x, got, tokens,
                                out, in, lx, ly, tk);
                    }
                    double tolRel = Math.max(REL, (in / 16.0 + 16) * Numerics.U_F32);
                    for (int tk = 0; tk < tokens; tk++) {
                        for (int o = 0; o < out; o++) {
                            double sumAbs = 0;
                            for (int i = 0; i < in; i++) {
                                sumAbs += Math.abs((double) ws[o * in + i] * xs[tk * in + i]);
                            }
                            int k = tk * out + o;
                            e.check(name + " " + tokens + "x" + out + "x" + in + " token " + tk + " out " + o,
                                    got.getFloat(k), want.getFloat(k), sumAbs, tolRel);
                        }
                    }
                }
            }
        });
    }

    /**
     * Q8_0 or Q4_0 weights times F32 activations, shapes {tokens, rows, in}: on devices the GEMV kernel for one token,
     * the GEMM kernel otherwise; on the Vector API {@link QuantMatMulOp}'s path over the packed weights (the decode
     * kernel, or the GEMM over dequantized panels for the 53-token case). Every case pokes a subnormal fp16 scale into row 0's first block, a negative scale into row 1's and
     * an all-zero block (scale 0) into the last row; the second case has +Inf and NaN activations.
     */
    static OpCheck quant(String name, boolean q4, int[][] shapes) {
        String tol = "|err| <= max(1e-5, (in/16 + 16)u) * sum|d*q*x| per output (Numerics.dotBound)";
        return new OpCheck(name, tol, (t, e) -> {
            SplittableRandom r = new SplittableRandom(name.hashCode());
            for (int c = 0; c < shapes.length; c++) {
                int tokens = shapes[c][0];
                int rows = shapes[c][1];
                int in = shapes[c][2];
                float[] ws = random(r, rows * in, 1);
                for (int j = 0; j < 32; j++) {
                    ws[(rows - 1) * in + j] = 0f;
                }
                float[] xs = random(r, tokens * in, 2);
                if (c == 1) {
                    xs[5] = Float.POSITIVE_INFINITY;
                    if (tokens > 1) {
                        xs[in + 40] = Float.NaN;
                    }
                }
                try (QuantCase q = new QuantCase(q4, ws, xs, tokens, rows, in)) {
                    if (t.vectorApi()) {
                        q.runVectorApi();
                    } else if (name.endsWith("_group")) {
                        t.kernel(QuantKernels.class, "q4GemvGroup", Grid.of1(rows * GROUP, GROUP), q.w, q.x, q.got,
                                rows, in, GROUP);
                    } else if (tokens == 1) {
                        t.kernel(QuantKernels.class, q4 ? "q4Gemv" : "q8Gemv", elementGrid(rows), q.w, q.x, q.got,
                                rows, in);
                    } else {
                        Grid grid = Grid.of2(roundUp(rows, 16), (tokens + 3) / 4, 16, 1);
                        t.kernel(QuantKernels.class, q4 ? "q4Gemm" : "q8Gemm", grid, q.w, q.x, q.got, rows, in,
                                tokens);
                    }
                    q.check(e, name, t.vectorApi());
                }
            }
        });
    }

    static OpCheck topK() {
        return new OpCheck("topk", "exact indices and value bits (NaN first, ties to the lower index, -0 == +0)",
                (t, e) -> {
                    SplittableRandom r = new SplittableRandom(81);
                    List<float[]> xsList = new ArrayList<>();
                    List<Integer> ks = new ArrayList<>();
                    xsList.add(new float[] {2.5f});
                    ks.add(1);
                    xsList.add(random(r, 7, 10));
                    ks.add(5);
                    xsList.add(random(r, 33, 10));
                    ks.add(5);
                    xsList.add(random(r, 4097, 10));
                    ks.add(64);
                    xsList.add(random(r, 32000, 10));
                    ks.add(64);
                    xsList.add(random(r, 64, 10));
                    ks.add(64);
                    float[] nan = random(r, 4097, 10);
                    nan[3000] = Float.NaN;
                    nan[12] = Float.NaN;
                    nan[4096] = Float.NaN;
                    nan[77] = Float.POSITIVE_INFINITY;
                    xsList.add(nan);
                    ks.add(64);
                    float[] ties = new float[4095];
                    for (int i = 0; i < ties.length; i++) {
                        ties[i] = r.nextInt(10);
                    }
                    xsList.add(ties);
                    ks.add(64);
                    float[] equal = new float[100];
                    java.util.Arrays.fill(equal, 3.5f);
                    xsList.add(equal);
                    ks.add(64);
                    float[] zeros = new float[70];
                    for (int i = 0; i < zeros.length; i++) {
                        zeros[i] = i % 3 == 0 ? -0f : i % 3 == 1 ? 0f : -1f;
                    }
                    xsList.add(zeros);
                    ks.add(64);
                    float[] ninf = new float[100];
                    java.util.Arrays.fill(ninf, Float.NEGATIVE_INFINITY);
                    xsList.add(ninf);
                    ks.add(5);
                    float[] firstNan = random(r, 33, 1);
                    firstNan[0] = Float.NaN;
                    firstNan[5] = Float.NaN;
                    xsList.add(firstNan);
                    ks.add(1);
                    for (int c = 0; c < xsList.size(); c++) {
                        float[] xs = xsList.get(c);
                        int n = xs.length;
                        int k = ks.get(c);
                        int[] wantIdx = new int[k];
                        float[] wantVal = new float[k];
                        int[] gotIdx = new int[k];
                        float[] gotVal = new float[k];
                        try (Buffer x = Buffers.f32("x", xs); Buffer ib = Buffers.allocate("idx", DType.I32, k);
                             Buffer vb = f32("val", k)) {
                            TopK.reference(x.segment(), 0, n, k, wantIdx, wantVal);
                            if (t.vectorApi()) {
                                TopK.apply(x.segment(), 0, n, k, gotIdx, gotVal);
                            } else {
                                t.kernel(TopKKernels.class, "topK", Grid.of1(GROUP, GROUP), x, ib, vb, n, k, GROUP);
                                for (int j = 0; j < k; j++) {
                                    gotIdx[j] = ib.getInt(j);
                                    gotVal[j] = vb.getFloat(j);
                                }
                            }
                            for (int j = 0; j < k; j++) {
                                e.exact("topk n=" + n + " k=" + k + " rank " + j + " index", gotIdx[j], wantIdx[j]);
                                e.exact("topk n=" + n + " k=" + k + " rank " + j + " value bits",
                                        Float.floatToIntBits(gotVal[j]), Float.floatToIntBits(wantVal[j]));
                            }
                        }
                    }
                });
    }
}
