package dev.gale.tests;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.Buffers;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.Grid;
import dev.gale.kernels.sampling.NucleusSampler;
import dev.gale.kernels.sampling.SampleKernels;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Temperature / top-p sampling on every target against {@link NucleusSampler#reference} (double precision, sorted).
 * A different token is accepted only where F32 rounding makes the draw ambiguous: the token is in the nucleus of the
 * exact probabilities widened by 1e-4, and the exact running mass at one of its edges lies within 1e-4·S of the
 * coin's target.
 */
final class SamplingOps {
    /** The op launches 256 items; the kernel is generic in the group, and 64 keeps the emulator's cases quick. */
    private static final int GROUP = 64;
    private static final double AMBIGUOUS = 1e-4;

    private SamplingOps() {
    }

    static OpCheck sample() {
        return new OpCheck("sample_top_p", "same token, or an F32-ambiguous draw (edge within 1e-4 of the mass)",
                (t, e) -> {
                    SplittableRandom r = new SplittableRandom(97);
                    List<float[]> rows = new ArrayList<>();
                    for (int n : new int[] {1, 7, 33, 4097}) {
                        rows.add(Ops.random(r, n, 3));
                    }
                    float[] flat = new float[300];
                    rows.add(flat); // every token tied: the nucleus keeps them all
                    float[] peak = Ops.random(r, 1000, 1);
                    peak[617] = 40f;
                    rows.add(peak); // one token holds nearly all the mass
                    float[] nan = Ops.random(r, 500, 1);
                    nan[3] = Float.NaN;
                    rows.add(nan);
                    float[] inf = Ops.random(r, 500, 1);
                    inf[9] = Float.POSITIVE_INFINITY;
                    rows.add(inf);
                    for (float[] xs : rows) {
                        for (float temp : new float[] {0.6f, 1.7f}) {
                            for (float topP : new float[] {0.05f, 0.9f, 1f}) {
                                for (int k = 0; k < 2; k++) {
                                    float coin = k == 0 ? 0f : (float) r.nextDouble() * 0.999f;
                                    one(t, e, xs, temp, topP, coin);
                                }
                            }
                        }
                    }
                });
    }

    private static void one(Target t, Errors e, float[] xs, float temp, float topP, float coin) {
        int n = xs.length;
        String where = "sample n=" + n + " T=" + temp + " p=" + topP + " coin=" + coin;
        try (Buffer x = Buffers.f32("logits", xs); Buffer probs = Buffers.allocate("probs", DType.F32, n);
             Buffer out = Buffers.allocate("id", DType.I32, 1)) {
            int want = NucleusSampler.reference(x.segment(), 0, n, temp, topP, coin);
            int got;
            if (t.vectorApi()) {
                got = NucleusSampler.apply(x.segment(), 0, n, temp, topP, coin, probs.segment(), new int[n]);
            } else {
                out.setInt(0, -7);
                t.kernel(SampleKernels.class, "sample", Grid.of1(GROUP, GROUP), x, probs, out, n, 1f / temp, topP,
                        coin, GROUP);
                got = out.getInt(0);
            }
            if (got == want || want < 0 || !ambiguous(xs, temp, topP, coin, got)) {
                e.exact(where, got, want);
            } else {
                e.exact(where + " (F32-ambiguous draw, accepted)", got, got);
            }
        }
    }

    /** True when {@code got} is a correct draw up to F32 rounding of the masses (see the class comment). */
    private static boolean ambiguous(float[] xs, float temp, float topP, float coin, int got) {
        int n = xs.length;
        if (got < 0 || got >= n) {
            return false;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float x : xs) {
            max = Math.max(max, x);
        }
        double[] p = new double[n];
        double s = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp((xs[i] - max) / temp);
            s += p[i];
        }
        double[] sorted = p.clone();
        java.util.Arrays.sort(sorted);
        double tau = 0;
        if (topP < 1) {
            double cum = 0;
            for (int k = n - 1; k >= 0; k--) {
                cum += sorted[k];
                if (cum > topP * s) {
                    tau = sorted[k];
                    break;
                }
            }
        }
        double loose = tau * (1 - AMBIGUOUS);
        if (p[got] < loose) {
            return false;
        }
        double mass = 0;
        double before = 0;
        for (int i = 0; i < n; i++) {
            if (p[i] >= tau) {
                mass += p[i];
                if (i < got) {
                    before += p[i];
                }
            }
        }
        double target = coin * mass;
        double after = before + p[got];
        return Math.abs(before - target) <= AMBIGUOUS * s || Math.abs(after - target) <= AMBIGUOUS * s
                || (target >= before && target < after) || Math.abs(mass - topP * s) <= AMBIGUOUS * s;
    }
}
