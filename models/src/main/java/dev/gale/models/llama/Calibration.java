package dev.gale.models.llama;

import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.core.graph.Op;
import dev.gale.models.LlamaModel;
import dev.gale.models.WeightTensor;
import dev.gale.models.tokenizer.Tokenizer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.RootAllocator;

/**
 * FMPQ calibration (COMET §4.1 item 1): runs a model over a calibration text through the real decoder (CPU, F32 KV)
 * and records, for every matrix, the per-input-channel {@code max|x|} of the activations it multiplies. The matmul
 * ops are wrapped by an observer that reads {@code X} after the product, so the statistics are exactly the inputs
 * the decoder computes, with no second forward pass to keep in step.
 *
 * <p>The text is cut into windows of {@link #WINDOW} tokens, each after BOS in a fresh session (as
 * {@link Perplexity}). A text shorter than {@link #MIN_TOKENS} is refused with a {@link CalibrationException}.
 */
public final class Calibration {
    /** Tokens per calibration window. */
    public static final int WINDOW = 256;
    /**
     * The fewest calibration tokens accepted: two windows, so that every position of a window is seen in two
     * contexts (a maximum over one window would be one passage's). On stories260K the FMPQ model calibrated on this
     * minimum of Emma already beats naive W4A4 (W4AxQualityTest); the table in docs/w4a4.md calibrates on 4096.
     */
    public static final int MIN_TOKENS = 2 * WINDOW;

    /**
     * Per matrix (by identity), the per-input-channel {@code max|x|} (FMPQ's outlier rule, the smoothing scales) and
     * mean square {@code E[x²]} (the weights' error weights, {@link dev.gale.kernels.quant.W4Weights#quantizeClipped})
     * over {@code tokens} positions. {@code meanSquare} may be empty (statistics built by hand), and then only the
     * maxima are available.
     */
    public record Stats(Map<WeightTensor, float[]> maxAbs, Map<WeightTensor, float[]> meanSquare, int tokens) {
        /** Maxima only. */
        public Stats(Map<WeightTensor, float[]> maxAbs, int tokens) {
            this(maxAbs, Map.of(), tokens);
        }

        public float[] of(WeightTensor t) {
            return get(maxAbs, t, "max|x|");
        }

        /** The per-channel mean square of {@code t}'s input. */
        public float[] meanSquareOf(WeightTensor t) {
            return get(meanSquare, t, "mean square");
        }

        private static float[] get(Map<WeightTensor, float[]> m, WeightTensor t, String what) {
            float[] s = m.get(t);
            if (s == null) {
                throw new IllegalArgumentException("no calibration statistics (" + what + ") for " + t);
            }
            return s;
        }
    }

    private Calibration() {
    }

    /**
     * Statistics of {@code model} (its matrices F32, F16 or Q8_0/Q4_0) over the first {@code tokens} tokens of
     * {@code text} (rounded down to whole windows).
     */
    public static Stats collect(LlamaModel model, Tokenizer tok, String source, String text, int tokens) {
        int want = Math.max(MIN_TOKENS, tokens / WINDOW * WINDOW);
        int[] ids = available(tok, text, want);
        if (ids.length < MIN_TOKENS) {
            throw new CalibrationException(source, ids.length, MIN_TOKENS);
        }
        int n = ids.length / WINDOW * WINDOW;
        Map<WeightTensor, float[]> stats = new IdentityHashMap<>();
        Map<WeightTensor, Observer> observers = new IdentityHashMap<>();
        try (BoundWeights w = new BoundWeights(model); RootAllocator alloc = new RootAllocator()) {
            w.wrapMatmuls(b -> {
                float[] s = new float[(int) b.tensor().rowLength()];
                stats.put(b.tensor(), s);
                Observer obs = new Observer(b.op(), s);
                observers.put(b.tensor(), obs);
                return new BoundWeights.Bound(b.tensor(), b.buffer(), obs);
            });
            LlamaSession.Options o = LlamaSession.Options.greedy(dev.gale.core.device.Devices.cpu(), WINDOW);
            for (int start = 0; start < n; start += WINDOW) {
                try (LlamaSession s = new LlamaSession(w, alloc, "calibration", o)) {
                    int prev = tok.bos();
                    for (int i = start; i < start + WINDOW; i++) {
                        s.step(prev);
                        prev = ids[i];
                    }
                }
            }
        }
        Map<WeightTensor, float[]> meanSquare = new IdentityHashMap<>();
        observers.forEach((t, obs) -> meanSquare.put(t, obs.meanSquare()));
        return new Stats(stats, meanSquare, n);
    }

    /** Up to {@code n} tokens of {@code text}, as many as it has. */
    private static int[] available(Tokenizer tok, String text, int n) {
        try {
            return Perplexity.firstTokens(tok, text, n);
        } catch (IllegalArgumentException e) {
            int have = 0;
            for (String para : text.split("\\n\\s*\\n")) {
                String p = para.strip().replaceAll("\\s+", " ");
                if (!p.isEmpty()) {
                    have += tok.encode(p + "\n", false, false).length;
                }
            }
            return have == 0 ? new int[0] : Perplexity.firstTokens(tok, text, have);
        }
    }

    /**
     * A matmul that also folds its input's per-channel {@code max|x|} into {@code maxAbs} and its sum of squares into
     * a double sum (CPU only).
     */
    private static final class Observer implements Op {
        private final Op inner;
        private final float[] maxAbs;
        private final double[] sumSquares;
        private long rows;

        Observer(Op inner, float[] maxAbs) {
            this.inner = inner;
            this.maxAbs = maxAbs;
            this.sumSquares = new double[maxAbs.length];
        }

        float[] meanSquare() {
            float[] m = new float[sumSquares.length];
            for (int c = 0; c < m.length; c++) {
                m[c] = rows == 0 ? 0 : (float) (sumSquares[c] / rows);
            }
            return m;
        }

        @Override
        public String name() {
            return inner.name() + "+calibration";
        }

        @Override
        public void check(List<Arg> args) {
            inner.check(args);
        }

        @Override
        public List<ImplPath> paths(Device device) {
            return device instanceof CpuDevice ? inner.paths(device) : List.of();
        }

        @Override
        public List<ImplPath> paths(Device device, List<Arg> args) {
            return device instanceof CpuDevice ? inner.paths(device, args) : List.of();
        }

        @Override
        public void execute(ImplPath path, Device device, LaunchContext ctx) {
            inner.execute(path, device, ctx);
            MemorySegment x = ctx.segment(1);
            int in = maxAbs.length;
            long tokens = ctx.desc(1).elementCount() / in;
            synchronized (maxAbs) {
                for (long t = 0; t < tokens; t++) {
                    for (int c = 0; c < in; c++) {
                        float v = Math.abs(x.getAtIndex(ValueLayout.JAVA_FLOAT, t * in + c));
                        // NaN propagates (Math.max): a channel that overflowed ranks as the strongest outlier
                        maxAbs[c] = Math.max(maxAbs[c], v);
                        sumSquares[c] += (double) v * v;
                    }
                }
                rows += tokens;
            }
        }
    }

    /** The median of {@code |v|} (upper median for even lengths). */
    static double median(float[] v) {
        float[] s = v.clone();
        for (int i = 0; i < s.length; i++) {
            s[i] = Math.abs(s[i]);
        }
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
