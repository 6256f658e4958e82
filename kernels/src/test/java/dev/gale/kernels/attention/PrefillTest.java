package dev.gale.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Devices;
import dev.gale.core.device.ImplPath;
import dev.gale.core.emulator.Emulator;
import dev.gale.core.graph.Bindings;
import dev.gale.core.graph.Plan;
import dev.gale.core.graph.TaskGraph;
import dev.gale.core.graph.TensorParam;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * FlashAttention-2 prefill against the double-precision {@link AttentionReference}, element by element within
 * {@link FlashPrefill#errorBound} times the element's scale {@code Σ p·|v|}: tile edges, long sequences, every GQA
 * ratio of 32 heads, windows, padding, fully masked rows (zeros, never NaN), varlen batches, head dims 32 to 128 and
 * odd ones. The device kernel runs on the emulator on small cases; the graph op on every CPU path. Only the shape
 * sweeps are tagged {@code vector} (also run with {@code -XX:UseAVX=2}): most of a case's time is the JIT warming the
 * vector loops up, so the rest runs once.
 */
class PrefillTest {
    /** Inputs and expected results of one batch. */
    static final class Case implements AutoCloseable {
        final AttentionSpec spec;
        final PrefillBatch batch;
        final Buffer q;
        final Buffer k;
        final Buffer v;
        final Buffer mask;
        final Buffer out;
        final double maxAbsK;

        Case(AttentionSpec spec, PrefillBatch batch, long seed, double qkAmplitude, double padding) {
            this.spec = spec;
            this.batch = batch;
            SplittableRandom r = new SplittableRandom(seed);
            int d = spec.headDim();
            q = fill(Buffers.allocate("q", DType.F32, (long) batch.totalQ() * spec.heads() * d), r, qkAmplitude);
            k = fill(Buffers.allocate("k", DType.F32, (long) batch.totalK() * spec.kvHeads() * d), r, qkAmplitude);
            v = fill(Buffers.allocate("v", DType.F32, (long) batch.totalK() * spec.kvHeads() * d), r, 1);
            out = Buffers.allocate("out", DType.F32, (long) batch.totalQ() * spec.heads() * d);
            maxAbsK = qkAmplitude;
            if (padding > 0) {
                mask = Buffers.allocate("mask", DType.U8, Math.max(1, batch.totalK()));
                for (int j = 0; j < batch.totalK(); j++) {
                    mask.segment().set(ValueLayout.JAVA_BYTE, j, (byte) (r.nextDouble() < padding ? 0 : 1));
                }
            } else {
                mask = null;
            }
        }

        static Buffer fill(Buffer b, SplittableRandom r, double amplitude) {
            MemorySegment s = b.segment();
            for (long i = 0; i < b.segment().byteSize() / 4; i++) {
                s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) ((r.nextDouble() * 2 - 1) * amplitude));
            }
            return b;
        }

        HeadView view(Buffer b, int heads) {
            return HeadView.tokenMajor(b.segment(), 0, heads, spec.headDim());
        }

        void runVector() {
            runVector(new FlashPrefill(spec));
        }

        void runVector(FlashPrefill flash) {
            flash.apply(batch, view(q, spec.heads()), view(k, spec.kvHeads()),
                    view(v, spec.kvHeads()), view(out, spec.heads()), mask == null ? null : mask.segment(), 0);
        }

        void runEmulator() {
            try (Buffer seqs = PrefillAttentionOp.tableBuffer(batch);
                 Buffer noMask = Buffers.allocate("nomask", DType.U8, 1)) {
                Emulator.parallel(2).run(PrefillKernels.class, "flashPrefill",
                        PrefillAttentionOp.grid(Math.max(1, batch.maxQLen()), spec.heads(), batch.sequences()),
                        q, k, v, seqs, mask == null ? noMask : mask, out, spec.heads(), spec.kvHeads(),
                        spec.causal() ? 1 : 0, spec.window(), spec.scale(), mask == null ? 0 : 1, spec.headDim(),
                        PrefillAttentionOp.BR, PrefillAttentionOp.BC);
            }
        }

        /** Checks {@code out} against the reference; returns the largest error relative to the element's bound. */
        double check() {
            int d = spec.headDim();
            int hq = spec.heads();
            double worst = 0;
            for (int s = 0; s < batch.sequences(); s++) {
                int nq = batch.qLen(s);
                int nk = batch.kLen(s);
                double[] scale = new double[Math.max(1, nq * hq * d)];
                HeadView want;
                try (Buffer ref = Buffers.allocate("ref", DType.F32, Math.max(1L, (long) nq * hq * d))) {
                    want = HeadView.tokenMajor(ref.segment(), 0, hq, d);
                    AttentionReference.attend(spec, FlashPrefill.shift(view(q, hq), batch.qStart(s)),
                            FlashPrefill.shift(view(k, spec.kvHeads()), batch.kStart(s)),
                            FlashPrefill.shift(view(v, spec.kvHeads()), batch.kStart(s)), want, nq, nk,
                            mask == null ? null : mask.segment(), batch.kStart(s), null, scale);
                    HeadView got = FlashPrefill.shift(view(out, hq), batch.qStart(s));
                    for (int i = 0; i < nq; i++) {
                        for (int h = 0; h < hq; h++) {
                            double bound = FlashPrefill.errorBound(nk, d, maxAbsScore(s, i, h));
                            for (int e = 0; e < d; e++) {
                                double g = got.get(i, h, e);
                                double w = want.get(i, h, e);
                                double sc = scale[(i * hq + h) * d + e];
                                double diff = Math.abs(g - w);
                                String where = spec + " " + batch + " seq " + s + " row " + i + " head " + h
                                        + " e " + e;
                                assertFalse(Double.isNaN(g), where + ": NaN");
                                if (sc == 0) {
                                    assertEquals(0.0, g, 0.0, where + ": a row that sees no key must be 0");
                                    continue;
                                }
                                double allowed = bound * sc + Float.MIN_NORMAL;
                                if (diff > allowed) {
                                    fail(where + ": got " + g + ", want " + w + ", |err| " + diff + " > " + allowed
                                            + " (scale " + sc + ")");
                                }
                                worst = Math.max(worst, diff / allowed);
                            }
                        }
                    }
                }
            }
            return worst;
        }

        /**
         * An upper bound of {@code max_j τ·Σ_e |q_e·k_{j,e}|} over the row's keys: {@code τ·‖q‖₁·max|k|}, in O(d) (the
         * exact maximum would cost as much as the reference again).
         */
        double maxAbsScore(int s, int i, int h) {
            HeadView qv = FlashPrefill.shift(view(q, spec.heads()), batch.qStart(s));
            double q1 = 0;
            for (int e = 0; e < spec.headDim(); e++) {
                q1 += Math.abs(qv.get(i, h, e));
            }
            return q1 * maxAbsK * spec.scale();
        }

        @Override
        public void close() {
            q.close();
            k.close();
            v.close();
            out.close();
            if (mask != null) {
                mask.close();
            }
        }
    }

    static void vectorMatches(AttentionSpec spec, PrefillBatch batch, long seed, double amplitude, double padding) {
        try (Case c = new Case(spec, batch, seed, amplitude, padding)) {
            c.runVector();
            c.check();
        }
    }

    @Tag("vector")
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 31, 32, 33, 63, 64, 65, 129})
    void lengthsAroundTheTileEdges(int n) {
        for (boolean causal : new boolean[] {true, false}) {
            vectorMatches(AttentionSpec.of(4, 2, 16, causal), PrefillBatch.single(n, n), n, 1, 0);
        }
    }

    @Test
    void longSequence() {
        vectorMatches(AttentionSpec.of(1, 1, 8, true), PrefillBatch.single(4097, 4097), 5, 1, 0);
    }

    @Test
    void fewQueriesAgainst65536Keys() {
        vectorMatches(AttentionSpec.of(2, 1, 8, true), PrefillBatch.single(3, 65536), 6, 1, 0);
        vectorMatches(AttentionSpec.of(1, 1, 8, false), PrefillBatch.single(2, 65536), 7, 1, 0);
    }

    @Tag("vector")
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 8, 16, 32})
    void everyGqaRatioOf32Heads(int kvHeads) {
        vectorMatches(AttentionSpec.of(32, kvHeads, 16, true), PrefillBatch.single(70, 70), kvHeads, 1, 0);
    }

    @Tag("vector")
    @ParameterizedTest
    @ValueSource(ints = {32, 64, 80, 96, 128, 1, 7, 33})
    void headDims(int d) {
        vectorMatches(AttentionSpec.of(4, 2, d, true), PrefillBatch.single(75, 75), d, 1, 0);
        vectorMatches(AttentionSpec.of(3, 1, d, false), PrefillBatch.single(40, 90), d + 1, 1, 0);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 64, 65, 200})
    void slidingWindows(int window) {
        vectorMatches(AttentionSpec.of(4, 1, 16, true).withWindow(window), PrefillBatch.single(300, 300), window, 1,
                0);
        vectorMatches(AttentionSpec.of(4, 2, 16, true).withWindow(window), PrefillBatch.single(70, 300), window + 1,
                1, 0);
    }

    @Test
    void paddingMasksLikeABertBatch() {
        // Bidirectional encoder over packed sequences with padded keys, and a causal variant.
        PrefillBatch b = PrefillBatch.packed(new int[] {17, 64, 130, 1}, new int[] {17, 64, 130, 1});
        vectorMatches(AttentionSpec.of(4, 4, 32, false), b, 21, 1, 0.3);
        vectorMatches(AttentionSpec.of(4, 2, 32, true), b, 22, 1, 0.3);
    }

    @Test
    void fullyMaskedRowsGiveZerosNotNaN() {
        AttentionSpec spec = AttentionSpec.of(4, 2, 16, false);
        PrefillBatch b = PrefillBatch.packed(new int[] {5, 70, 3}, new int[] {5, 70, 9});
        try (Case c = new Case(spec, b, 31, 1, 0)) {
            // Every key of the middle sequence is padding; the others keep some keys.
            try (Buffer mask = Buffers.allocate("mask", DType.U8, b.totalK())) {
                for (int j = 0; j < b.totalK(); j++) {
                    boolean middle = j >= b.kStart(1) && j < b.kStart(1) + b.kLen(1);
                    mask.segment().set(ValueLayout.JAVA_BYTE, j, (byte) (middle || j % 3 == 0 ? 0 : 1));
                }
                Case.fill(c.out, new SplittableRandom(1), 1); // stale values must be overwritten
                new FlashPrefill(spec).apply(b, c.view(c.q, 4), c.view(c.k, 2), c.view(c.v, 2), c.view(c.out, 4),
                        mask.segment(), 0);
                for (int i = 0; i < b.qLen(1) * 4 * 16; i++) {
                    float o = c.out.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED,
                            (long) b.qStart(1) * 4 * 16 + i);
                    assertEquals(0f, o, 0f, "fully masked row element " + i);
                }
            }
        }
        // Causal with more queries than keys: the first queries see no key.
        vectorMatches(AttentionSpec.of(2, 1, 8, true), PrefillBatch.single(80, 10), 32, 1, 0);
    }

    @Test
    void varlenBatches() {
        PrefillBatch b = PrefillBatch.packed(new int[] {1, 30, 0, 130, 7, 10}, new int[] {1, 65, 5, 130, 40, 4});
        vectorMatches(AttentionSpec.of(4, 2, 24, true), b, 41, 1, 0);
        vectorMatches(AttentionSpec.of(4, 2, 24, false), b, 42, 1, 0.2);
        vectorMatches(AttentionSpec.of(6, 2, 24, true).withWindow(9), b, 43, 1, 0.2);
        // Sequences in any order and with gaps in the packed tensors.
        vectorMatches(AttentionSpec.of(2, 2, 16, true), PrefillBatch.of(new int[] {40, 20, 0, 25, 0, 33, 30, 50}),
                44, 1, 0);
    }

    @Tag("vector")
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void kvHeadsPackedAFewAtATime(int heads) {
        // A panel of `heads` KV heads' keys: 8 heads then run in groups of 1, 2 or 3 (the last group smaller).
        AttentionSpec spec = AttentionSpec.of(16, 8, 24, true);
        PrefillBatch b = PrefillBatch.packed(new int[] {37, 5, 70}, new int[] {37, 9, 70});
        try (Case c = new Case(spec, b, 60 + heads, 1, 0.2)) {
            c.runVector(new FlashPrefill(spec, (long) heads * b.totalK() * spec.headDim()));
            c.check();
        }
    }

    @Test
    void largeLogitsStayWithinTheScoreRoundingTerm() {
        // |s| up to ~hundreds: the softmax is nearly one-hot and the scores' own rounding dominates the error.
        vectorMatches(AttentionSpec.of(4, 1, 64, true), PrefillBatch.single(100, 100), 51, 6, 0);
        vectorMatches(AttentionSpec.of(4, 1, 64, false), PrefillBatch.single(100, 100), 52, 6, 0);
    }

    @Test
    void deviceKernelOnTheEmulator() {
        PrefillBatch b = PrefillBatch.packed(new int[] {1, 70, 0, 9}, new int[] {3, 70, 4, 9});
        for (AttentionSpec spec : List.of(AttentionSpec.of(4, 2, 8, true), AttentionSpec.of(2, 1, 7, false),
                AttentionSpec.of(3, 3, 5, true).withWindow(6))) {
            for (double padding : new double[] {0, 0.3}) {
                try (Case c = new Case(spec, b, spec.hashCode(), 1, padding)) {
                    c.runEmulator();
                    c.check();
                }
            }
        }
    }

    @Test
    void graphOpOnEveryCpuPath() {
        AttentionSpec spec = AttentionSpec.of(4, 2, 16, true);
        PrefillBatch b = PrefillBatch.packed(new int[] {3, 40}, new int[] {9, 40});
        for (boolean withMask : new boolean[] {false, true}) {
            TaskGraph g = new TaskGraph("prefill");
            TensorParam q = g.tensor("q", DType.F32, b.totalQ(), 4, 16);
            TensorParam k = g.tensor("k", DType.F32, b.totalK(), 2, 16);
            TensorParam v = g.tensor("v", DType.F32, b.totalK(), 2, 16);
            TensorParam seqs = g.tensor("seqs", DType.I32, b.sequences(), 4);
            TensorParam mask = g.tensor("mask", DType.U8, b.totalK());
            TensorParam out = g.tensor("out", DType.F32, b.totalQ(), 4, 16);
            PrefillAttentionOp op = new PrefillAttentionOp(spec);
            if (withMask) {
                g.launch("attn", op, q, k, v, seqs, mask, out);
            } else {
                g.launch("attn", op, q, k, v, seqs, out);
            }
            for (ImplPath path : new ImplPath[] {ImplPath.VECTOR_API, ImplPath.REFERENCE, ImplPath.EMULATOR}) {
                Plan plan = path == ImplPath.VECTOR_API ? g.compile(Devices.cpu())
                        : g.compile(Devices.cpu(), TaskGraph.PlanOptions.forcing(path));
                assertTrue(plan.describe().contains("cpu " + path), plan.describe());
                try (Case c = new Case(spec, b, 61, 1, withMask ? 0.25 : 0);
                     Buffer table = PrefillAttentionOp.tableBuffer(b);
                     Bindings bind = plan.newBindings()) {
                    bind.bind(q, c.q).bind(k, c.k).bind(v, c.v).bind(seqs, table).bind(out, c.out);
                    if (withMask) {
                        bind.bind(mask, c.mask);
                    }
                    plan.run(bind);
                    plan.run(bind); // a second run reuses the op's scratch
                    c.check();
                }
            }
        }
    }

    @Test
    void rejectsBadBatches() {
        AttentionSpec spec = AttentionSpec.of(2, 1, 8, true);
        assertThrows(IllegalArgumentException.class, () -> PrefillBatch.of(new int[] {0, -1, 0, 1}));
        assertThrows(IllegalArgumentException.class, () -> PrefillBatch.packed(new int[] {1}, new int[] {1, 2}));
        try (Case c = new Case(spec, PrefillBatch.single(4, 4), 1, 1, 0)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new FlashPrefill(spec)
                    .apply(PrefillBatch.single(5, 4), c.view(c.q, 2), c.view(c.k, 1), c.view(c.v, 1),
                            c.view(c.out, 2), null, 0));
            assertTrue(e.getMessage().contains("q needs"), e.getMessage());
        }
    }
}
