package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.kernels.attention.AttentionReference;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.FlashPrefill;
import dev.gale.kernels.attention.HeadView;
import dev.gale.kernels.attention.PrefillAttentionOp;
import dev.gale.kernels.attention.PrefillBatch;
import dev.gale.kernels.attention.PrefillKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Prefill attention in the matrix: {@link FlashPrefill} on the Vector API column, {@link PrefillKernels#flashPrefill}
 * on the emulator and every OpenCL device, each against {@link AttentionReference} (double) per sequence, within
 * {@link FlashPrefill#errorBound} of the element's scale {@code Σ p·|v|}. Awkward sizes: lengths 1, 2, 63–65 around
 * the tiles, a varlen batch with an empty sequence, fewer keys than queries, padded keys (one sequence entirely),
 * GQA 1/2/3/4, head dims 8 and 33 (a tail past any vector width), windows. Kept small: the emulator runs one virtual
 * thread per work item, and each head dim is one more program build on a device (PoCL: seconds each).
 */
public final class AttentionPrefillOps {
    private AttentionPrefillOps() {
    }

    record Shape(AttentionSpec spec, PrefillBatch batch, double padding, boolean allPadded) {
    }

    static List<Shape> shapes() {
        PrefillBatch varlen = PrefillBatch.packed(new int[] {1, 65, 0, 7, 9}, new int[] {2, 65, 3, 33, 4});
        return List.of(
                new Shape(AttentionSpec.of(2, 1, 8, true), PrefillBatch.single(1, 1), 0, false),
                new Shape(AttentionSpec.of(3, 1, 8, true), PrefillBatch.single(2, 2), 0, false),
                new Shape(AttentionSpec.of(4, 1, 33, true), PrefillBatch.single(65, 65), 0, false),
                new Shape(AttentionSpec.of(4, 4, 33, false), PrefillBatch.single(63, 64), 0.25, false),
                new Shape(AttentionSpec.of(4, 2, 8, true), varlen, 0, false),
                new Shape(AttentionSpec.of(4, 2, 8, false), varlen, 0.3, true),
                new Shape(AttentionSpec.of(6, 2, 8, true).withWindow(5), varlen, 0.2, false));
    }

    public static OpCheck prefill() {
        return new OpCheck("prefill_attention", "|err| <= FlashPrefill.errorBound * sum p|v| per element "
                + "(1e-5 plus block accumulation and score rounding)", (t, errors) -> {
            for (Shape sh : shapes()) {
                run(t, errors, sh);
            }
        });
    }

    /**
     * A prompt chunk continuing one sequence's head-major cache (F32 and F16), the chunk's keys already in it: the
     * Vector API's {@link FlashPrefill} over head-major views, {@link PrefillKernels#cachedPrefillF32} /
     * {@link PrefillKernels#cachedPrefillF16} elsewhere, against {@link AttentionReference} on the same (widened) cache.
     * Shapes: one query at the end, a chunk across two query blocks of 64, a chunk that is the whole cache, and a
     * window.
     */
    /**
     * {heads, kvHeads, d, window, capacity, cached n, chunk t}; one head dim, since each is one more program build per
     * device (the row code is {@link #prefill}'s, which covers the odd head dims).
     */
    private static final int[][] CACHED = {{4, 2, 8, 0, 40, 33, 1}, {4, 1, 8, 0, 160, 150, 70}, {3, 3, 8, 0, 9, 9, 9},
        {6, 2, 8, 7, 100, 80, 20}};

    public static OpCheck prefillCached(DType dtype) {
        String name = "prefill_attention_cached_" + dtype.name().toLowerCase();
        return new OpCheck(name, "|err| <= FlashPrefill.errorBound * sum p|v| per element", (t, errors) -> {
            SplittableRandom r = new SplittableRandom(dtype == DType.F16 ? 17 : 19);
            for (int[] c : CACHED) {
                AttentionSpec spec = AttentionSpec.of(c[0], c[1], c[2], true).withWindow(c[3]);
                int hq = c[0];
                int hkv = c[1];
                int d = c[2];
                int cap = c[4];
                int n = c[5];
                int chunk = c[6];
                long kvn = (long) hkv * cap * d;
                try (Buffer q = Buffers.f32("q", Ops.random(r, chunk * hq * d, 1));
                     Buffer k = Buffers.allocate("k", dtype, kvn); Buffer v = Buffers.allocate("v", dtype, kvn);
                     Buffer out = Ops.f32("out", chunk * hq * d); Buffer want = Ops.f32("want", chunk * hq * d)) {
                    for (long i = 0; i < kvn; i++) {
                        k.setFloat(i, (float) (r.nextDouble() * 2 - 1));
                        v.setFloat(i, (float) (r.nextDouble() * 2 - 1));
                    }
                    HeadView qv = HeadView.tokenMajor(q.segment(), 0, hq, d);
                    HeadView kv = HeadView.headMajor(k.segment(), 0, dtype, cap, d);
                    HeadView vv = HeadView.headMajor(v.segment(), 0, dtype, cap, d);
                    if (t.vectorApi()) {
                        new FlashPrefill(spec).apply(PrefillBatch.single(chunk, n), qv, kv, vv,
                                HeadView.tokenMajor(out.segment(), 0, hq, d), null, 0);
                    } else {
                        t.kernel(PrefillKernels.class, dtype == DType.F16 ? "cachedPrefillF16" : "cachedPrefillF32",
                                PrefillAttentionOp.grid(chunk, hq, 1), q, k, v, out, hq, hkv, cap, chunk, n,
                                spec.window(), spec.scale(), d, PrefillAttentionOp.BR, PrefillAttentionOp.BC);
                    }
                    double[] scale = new double[chunk * hq * d];
                    AttentionReference.attend(spec, qv, kv, vv, HeadView.tokenMajor(want.segment(), 0, hq, d), chunk,
                            n, null, 0, null, scale);
                    for (int i = 0; i < chunk; i++) {
                        for (int h = 0; h < hq; h++) {
                            double q1 = 0;
                            for (int e = 0; e < d; e++) {
                                q1 += Math.abs(q.getFloat(((long) i * hq + h) * d + e));
                            }
                            double tol = FlashPrefill.errorBound(n, d, q1 * spec.scale());
                            for (int e = 0; e < d; e++) {
                                long at = ((long) i * hq + h) * d + e;
                                errors.check(name + " " + spec + " n " + n + " chunk " + chunk + " row " + i
                                        + " head " + h + " e " + e, out.getFloat(at), want.getFloat(at),
                                        scale[(i * hq + h) * d + e], tol);
                            }
                        }
                    }
                }
            }
        });
    }

    static void run(Target t, Errors errors, Shape sh) {
        AttentionSpec spec = sh.spec();
        PrefillBatch b = sh.batch();
        int d = spec.headDim();
        int hq = spec.heads();
        int hkv = spec.kvHeads();
        SplittableRandom r = new SplittableRandom(spec.hashCode() * 31L + b.toString().hashCode());
        try (Buffer q = Buffers.f32("q", Ops.random(r, b.totalQ() * hq * d, 1));
             Buffer k = Buffers.f32("k", Ops.random(r, Math.max(1, b.totalK() * hkv * d), 1));
             Buffer v = Buffers.f32("v", Ops.random(r, Math.max(1, b.totalK() * hkv * d), 1));
             Buffer mask = Buffers.allocate("mask", DType.U8, Math.max(1, b.totalK()));
             Buffer seqs = PrefillAttentionOp.tableBuffer(b);
             Buffer out = Ops.f32("out", b.totalQ() * hq * d);
             Buffer want = Ops.f32("want", b.totalQ() * hq * d)) {
            for (int j = 0; j < b.totalK(); j++) {
                boolean pad = r.nextDouble() < sh.padding() || (sh.allPadded() && j >= b.kStart(1)
                        && j < b.kStart(1) + b.kLen(1));
                mask.segment().set(ValueLayout.JAVA_BYTE, j, (byte) (pad ? 0 : 1));
            }
            MemorySegment maskSeg = sh.padding() > 0 ? mask.segment() : null;
            HeadView qv = HeadView.tokenMajor(q.segment(), 0, hq, d);
            HeadView kv = HeadView.tokenMajor(k.segment(), 0, hkv, d);
            HeadView vv = HeadView.tokenMajor(v.segment(), 0, hkv, d);
            if (t.vectorApi()) {
                new FlashPrefill(spec).apply(b, qv, kv, vv, HeadView.tokenMajor(out.segment(), 0, hq, d), maskSeg, 0);
            } else {
                t.kernel(PrefillKernels.class, "flashPrefill", PrefillAttentionOp.grid(Math.max(1, b.maxQLen()), hq,
                        b.sequences()), q, k, v, seqs, mask, out, hq, hkv, spec.causal() ? 1 : 0, spec.window(),
                        spec.scale(), maskSeg != null ? 1 : 0, d, PrefillAttentionOp.BR, PrefillAttentionOp.BC);
            }
            for (int s = 0; s < b.sequences(); s++) {
                int nq = b.qLen(s);
                int nk = b.kLen(s);
                double[] scale = new double[Math.max(1, nq * hq * d)];
                long qOff = (long) b.qStart(s) * hq * d * 4;
                long kOff = (long) b.kStart(s) * hkv * d * 4;
                AttentionReference.attend(spec, HeadView.tokenMajor(q.segment(), qOff, hq, d),
                        HeadView.tokenMajor(k.segment(), kOff, hkv, d), HeadView.tokenMajor(v.segment(), kOff, hkv, d),
                        HeadView.tokenMajor(want.segment(), qOff, hq, d), nq, nk, maskSeg, b.kStart(s), null, scale);
                for (int i = 0; i < nq; i++) {
                    for (int h = 0; h < hq; h++) {
                        // |s| <= τ·‖q‖₁·max|k| with |k| <= 1 (the inputs are uniform in [-1, 1]).
                        double q1 = 0;
                        for (int e = 0; e < d; e++) {
                            q1 += Math.abs(q.getFloat(((long) (b.qStart(s) + i) * hq + h) * d + e));
                        }
                        double tol = FlashPrefill.errorBound(nk, d, q1 * spec.scale());
                        for (int e = 0; e < d; e++) {
                            long at = ((long) (b.qStart(s) + i) * hq + h) * d + e;
                            errors.check("prefill " + spec + " " + b + " seq " + s + " row " + i + " head " + h
                                    + " e " + e, out.getFloat(at), want.getFloat(at), scale[(i * hq + h) * d + e], tol);
                        }
                    }
                }
            }
        }
    }
}
