package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.Numerics;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.HeadView;
import dev.gale.kernels.attention.SinkAttentionOp;
import dev.gale.kernels.attention.SinkKernels;
import dev.gale.kernels.attention.SinkWindow;
import dev.gale.kernels.attention.SinkWindowKv;
import dev.gale.kernels.attention.SoftmaxState;
import dev.gale.kernels.attention.WorkList;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * The StreamingLLM cache ({@link SinkWindowKv}, {@link SinkKernels}) in the cross-device matrix.
 *
 * <ul>
 *   <li>{@code sink_decode}: on the Vector API column, each decode output element against the materialising
 *       reference; on device columns, the partial state {@code (m, l, Õ)} of every slot written by
 *       {@code sinkDecodeF32/F16} against the CPU path's {@code accumulate} of the same range (l and Õ compared
 *       after moving the device's state to the CPU's maximum), over one-segment-per-tile work lists.</li>
 *   <li>{@code sink_append}: the cache bytes {@code sinkAppendF32/F16} write, exactly, against
 *       {@link SinkWindowKv#append}.</li>
 * </ul>
 */
final class SinkOps {
    private static final int GROUP = 16;

    /** {@code seqs, Hq, Hkv, d, sinks, window, dtype (0 F32, 1 F16), halfSplit}, then the stream lengths. */
    private static final int[][] CASES = {
        // F32, adjacent pairs, 4 sinks: a ring wrapped three times, and a stream shorter than the sinks
        {2, 4, 2, 16, 4, 12, 0, 0, 40, 3},
        // F16, half split, no sinks: a pure ring, exactly full, wrapped, and one token
        {3, 6, 2, 32, 0, 21, 1, 1, 21, 60, 1},
    };
    // (every variant is one more device compilation: PoCL takes seconds each, so the cases share few)

    private SinkOps() {
    }

    private record Setup(SinkWindowKv kv, Buffer k, Buffer v, AttentionSpec spec, int[] lengths, RopeTable rope) {
    }

    private static Setup setup(int[] c, SplittableRandom r) {
        int seqs = c[0];
        int d = c[3];
        int sinks = c[4];
        int window = c[5];
        DType dtype = c[6] == 1 ? DType.F16 : DType.F32;
        RopeTable rope = new RopeTable(sinks + window, d, 1e4,
                c[7] == 1 ? RopeLayout.HALF_SPLIT : RopeLayout.ADJACENT_PAIRS);
        long n = (long) seqs * c[2] * (sinks + window) * d;
        Buffer k = Buffers.allocate("k", dtype, n);
        Buffer v = Buffers.allocate("v", dtype, n);
        SinkWindowKv kv = new SinkWindowKv(seqs, c[2], d, sinks, window, dtype, k.segment(), v.segment(), rope);
        int[] lengths = new int[seqs];
        float[] kt = new float[c[2] * d];
        float[] vt = new float[c[2] * d];
        for (int s = 0; s < seqs; s++) {
            lengths[s] = c[8 + s];
            for (int t = 0; t < lengths[s]; t++) {
                try (Buffer kb = Buffers.f32("kt", Ops.random(r, kt.length, 2));
                     Buffer vb = Buffers.f32("vt", Ops.random(r, vt.length, 1))) {
                    kv.append(s, kb.segment(), 0, vb.segment(), 0);
                }
            }
        }
        return new Setup(kv, k, v, AttentionSpec.of(c[1], c[2], d, false), lengths, rope);
    }

    static OpCheck decode() {
        String tol = "|err| <= 1e-5*sum(p|v|) + 2*(d/16+16)u*|s|max*max|v| (outputs and aligned l, O~; m within the"
                + " score bound)";
        return new OpCheck("sink_decode", tol, (t, e) -> {
            SplittableRandom r = new SplittableRandom(81);
            for (int[] c : CASES) {
                Setup su = setup(c, r);
                try (Buffer k = su.k(); Buffer v = su.v()) {
                    run(t, e, c, su, r);
                }
            }
        });
    }

    private static void run(Target t, Errors e, int[] c, Setup su, SplittableRandom r) {
        SinkWindowKv kv = su.kv();
        AttentionSpec spec = su.spec();
        int seqs = c[0];
        int hq = c[1];
        int hkv = c[2];
        int d = c[3];
        int g = spec.group();
        String name = "sink_decode S=" + c[4] + " W=" + c[5] + " " + kv.dtype() + " " + su.rope().layout() + " Hq/Hkv "
                + hq + "/" + hkv + " d " + d;
        float[] qs = Ops.random(r, seqs * hq * d, 1);
        try (Buffer q = Buffers.f32("q", qs); Buffer out = Ops.f32("out", seqs * hq * d);
             Buffer want = Ops.f32("want", seqs * hq * d)) {
            double[] bound = new double[seqs * hkv];
            double[] vMax = new double[seqs * hkv];
            for (int s = 0; s < seqs; s++) {
                for (int kh = 0; kh < hkv; kh++) {
                    bound[s * hkv + kh] = scoreBound(kv, s, kh, qs, spec);
                    vMax[s * hkv + kh] = maxAbs(kv.valueView(), kv.length(s), s * hkv + kh, d);
                }
            }
            if (t.vectorApi()) {
                kv.decode(spec, q.segment(), 0, out.segment(), 0);
                for (int s = 0; s < seqs; s++) {
                    double[] scale = new double[hq * d];
                    long row = 4L * s * hq * d;
                    kv.reference(s, spec, q.segment(), row, want.segment(), row, scale);
                    for (int i = 0; i < hq * d; i++) {
                        int tile = s * hkv + i / d / g;
                        double err = Numerics.F32_REL * scale[i] + 2 * bound[tile] * vMax[tile];
                        e.check(name + " seq " + s + " head " + i / d + " e " + i % d, out.getFloat(s * hq * d + i),
                                want.getFloat(s * hq * d + i), Math.max(err / Numerics.F32_REL, Float.MIN_NORMAL),
                                Numerics.F32_REL);
                    }
                }
                return;
            }
            int tiles = seqs * hkv;
            int[] lengths = new int[tiles];
            for (int tile = 0; tile < tiles; tile++) {
                lengths[tile] = kv.length(tile / hkv);
            }
            int workers = Math.min(3, tiles);
            WorkList.Builder b = WorkList.builder("sinks-one-per-tile", workers, lengths);
            for (int tile = 0; tile < tiles; tile++) {
                if (lengths[tile] > 0) {
                    b.add(tile % workers, tile, 0, lengths[tile]);
                }
            }
            WorkList wl = b.build();
            int stride = SoftmaxState.stride(d);
            int[] heads = new int[seqs];
            int[] ns = new int[seqs];
            for (int s = 0; s < seqs; s++) {
                heads[s] = kv.window(s).head();
                ns[s] = kv.length(s);
            }
            try (Buffer seg = ints("segments", wl.segments()); Buffer ws = ints("workerStart", wl.workerStart());
                 Buffer cos = SinkAttentionOp.pairTable("cos", su.rope(), su.rope().maxPositions(), true);
                 Buffer sin = SinkAttentionOp.pairTable("sin", su.rope(), su.rope().maxPositions(), false);
                 Buffer len = ints("lengths", ns); Buffer ring = ints("ringHeads", heads);
                 Buffer partials = Ops.f32("partials", Math.max(1, wl.slots() * g * stride))) {
                t.kernel(SinkKernels.class, kv.dtype() == DType.F16 ? "sinkDecodeF16" : "sinkDecodeF32",
                        Grid.of1(workers * GROUP, GROUP), seg, ws, q, su.k(), su.v(), cos, sin, len, ring, partials,
                        hkv, c[4], c[5], spec.scale(), g, d, su.rope().layout() == RopeLayout.HALF_SPLIT ? 1 : 0,
                        GROUP);
                float[] qScaled = new float[g * d];
                float[] st = new float[g * stride];
                float[] scratch = new float[kv.scratchFloats(kv.capacity(), g)];
                int[] segs = wl.segments();
                for (int sg = 0; sg < segs.length / WorkList.SEG; sg++) {
                    int tile = segs[sg * WorkList.SEG];
                    int from = segs[sg * WorkList.SEG + 1];
                    int to = segs[sg * WorkList.SEG + 2];
                    int slot = segs[sg * WorkList.SEG + 3];
                    for (int i = 0; i < g * d; i++) {
                        qScaled[i] = qs[tile * g * d + i] * spec.scale();
                    }
                    SoftmaxState.reset(st, 0, g, d);
                    kv.accumulate(tile / hkv, tile % hkv, from, to, qScaled, 0, g, st, 0, scratch);
                    double sErr = bound[tile];
                    for (int row = 0; row < g; row++) {
                        String where = name + " tile " + tile + " [" + from + ", " + to + ") row " + row;
                        long pb = (long) (slot * g + row) * stride;
                        double mDev = partials.getFloat(pb);
                        double mCpu = st[row * stride];
                        e.check(where + " m", mDev, mCpu, Math.max(sErr / Numerics.F32_REL, Float.MIN_NORMAL),
                                Numerics.F32_REL);
                        double align = Math.exp(mDev - mCpu);
                        double lCpu = st[row * stride + 1];
                        double rel = Numerics.F32_REL + 2 * sErr;
                        e.check(where + " l", partials.getFloat(pb + 1) * align, lCpu, lCpu, rel);
                        for (int x = 0; x < d; x++) {
                            e.check(where + " O~ " + x, partials.getFloat(pb + 2 + x) * align,
                                    st[row * stride + 2 + x], lCpu * vMax[tile], rel);
                        }
                    }
                }
            }
        }
    }

    /**
     * The rounding bound of any score of tile {@code (s, kh)}: {@code 2·(d/16+16)·u·scale·‖q‖·max‖k‖} (Cauchy–Schwarz;
     * the rotation keeps norms).
     */
    private static double scoreBound(SinkWindowKv kv, int s, int kh, float[] qs, AttentionSpec spec) {
        int d = kv.headDim();
        int tile = s * kv.kvHeads() + kh;
        HeadView k = kv.keyView();
        double kMax = 0;
        for (int j = 0; j < kv.length(s); j++) {
            double n = 0;
            for (int x = 0; x < d; x++) {
                n += (double) k.get(j, tile, x) * k.get(j, tile, x);
            }
            kMax = Math.max(kMax, Math.sqrt(n));
        }
        double qMax = 0;
        for (int row = 0; row < spec.group(); row++) {
            double n = 0;
            for (int x = 0; x < d; x++) {
                double v = qs[(tile * spec.group() + row) * d + x];
                n += v * v;
            }
            qMax = Math.max(qMax, Math.sqrt(n));
        }
        return 2 * (d / 16.0 + 16) * Numerics.U_F32 * spec.scale() * qMax * kMax;
    }

    private static double maxAbs(HeadView v, int n, int tile, int d) {
        double m = 0;
        for (int j = 0; j < n; j++) {
            for (int x = 0; x < d; x++) {
                m = Math.max(m, Math.abs(v.get(j, tile, x)));
            }
        }
        return m;
    }

    /** cos or sin per pair, {@code [p·d/2 + i]}, as the kernels read them. */
    private static Buffer ints(String name, int[] values) {
        Buffer b = Buffers.allocate(name, DType.I32, Math.max(1, values.length));
        for (int i = 0; i < values.length; i++) {
            b.setInt(i, values[i]);
        }
        return b;
    }

    static OpCheck append() {
        return new OpCheck("sink_append", "exact cache bytes (F16 rounded to nearest even)", (t, e) -> {
            SplittableRandom r = new SplittableRandom(82);
            for (DType dtype : new DType[] {DType.F32, DType.F16}) {
                int seqs = 2;
                int hkv = 3;
                int d = 16;
                int sinks = 2;
                int window = 5;
                long n = (long) seqs * hkv * (sinks + window) * d;
                try (Buffer wantK = Buffers.allocate("wantK", dtype, n); Buffer wantV = Buffers.allocate("wantV", dtype,
                        n); Buffer gotK = Buffers.allocate("gotK", dtype, n);
                     Buffer gotV = Buffers.allocate("gotV", dtype, n)) {
                    SinkWindowKv want = new SinkWindowKv(seqs, hkv, d, sinks, window, dtype, wantK.segment(),
                            wantV.segment(), null);
                    SinkWindowKv got = new SinkWindowKv(seqs, hkv, d, sinks, window, dtype, gotK.segment(),
                            gotV.segment(), null);
                    for (int step = 0; step < sinks + 2 * window + 1; step++) {
                        // Odd steps append the second token of a two-token batch (the first is noise the kernel
                        // must not read), as a prompt's launches do.
                        int token = step % 2;
                        int row = seqs * hkv * d;
                        float[] ks = Ops.random(r, (token + 1) * row, 3);
                        float[] vs = Ops.random(r, (token + 1) * row, 3);
                        try (Buffer kb = Buffers.f32("kNew", ks); Buffer vb = Buffers.f32("vNew", vs);
                             Buffer slots = Buffers.allocate("slots", DType.I32, (token + 1) * seqs)) {
                            for (int s = 0; s < seqs; s++) {
                                long off = 4L * (token * row + s * hkv * d);
                                want.append(s, kb.segment(), off, vb.segment(), off);
                                if (t.vectorApi()) {
                                    got.append(s, kb.segment(), off, vb.segment(), off);
                                } else {
                                    slots.setInt(token * seqs + s, got.window(s).append());
                                }
                            }
                            if (!t.vectorApi()) {
                                t.kernel(SinkKernels.class, dtype == DType.F16 ? "sinkAppendF16" : "sinkAppendF32",
                                        Ops.elementGrid(row), kb, vb, gotK, gotV, slots, token, seqs * hkv, hkv,
                                        sinks + window, d);
                            }
                        }
                    }
                    MemorySegment a = wantK.segment();
                    for (long i = 0; i < wantK.byteSize(); i++) {
                        e.exact("sink_append " + dtype + " k byte " + i, gotK.segment().get(ValueLayout.JAVA_BYTE, i),
                                a.get(ValueLayout.JAVA_BYTE, i));
                        e.exact("sink_append " + dtype + " v byte " + i, gotV.segment().get(ValueLayout.JAVA_BYTE, i),
                                wantV.segment().get(ValueLayout.JAVA_BYTE, i));
                    }
                }
            }
        });
    }
}
