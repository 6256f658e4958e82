package dev.gale.bench.attention.sinks;

import dev.gale.bench.BenchCase;
import dev.gale.bench.BenchCaseProvider;
import dev.gale.bench.Roofline;
import dev.gale.core.buffer.DType;
import dev.gale.core.cpu.WorkerPool;
import dev.gale.kernels.attention.AttentionSpec;
import dev.gale.kernels.attention.SinkWindow;
import dev.gale.kernels.attention.SinkWindowKv;
import dev.gale.kernels.rope.RopeLayout;
import dev.gale.kernels.rope.RopeTable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Decode over a StreamingLLM cache ({@link SinkWindowKv}): one sequence, Llama-3-8B attention (32 query heads, 8 KV
 * heads, d 128), F16 cache, 4 sinks + a window of 2044 or 8188 (the ring wrapped, so the slot runs are split), keys
 * rotated on the fly. Beside each, the same number of tokens in a plain cache: the same class with no RoPE table and
 * no sinks, so the same staging, dot, softmax and value loops run and the two differ by exactly the fused rotation
 * (its cos/sin table reads and the rotation arithmetic). The rotation's cost is the ratio of the two times.
 *
 * <p>{@link #bytes()} counts the cache bytes read ({@code n · 2 · Hkv · d · 2}) plus the query and output; the
 * cos/sin tables (a further {@code n · d · 8} bytes for adjacent pairs, mostly cache-resident) are not counted, so
 * the GB/s against the read-only probe states what the cache itself streams at.
 */
public final class SinkBenchCases implements BenchCaseProvider {
    static final int HQ = 32;
    static final int HKV = 8;
    static final int D = 128;

    @Override
    public List<BenchCase> cases(boolean quick) {
        List<BenchCase> cases = new ArrayList<>();
        int[] windows = quick ? new int[] {2044} : new int[] {2044, 8188};
        for (int w : windows) {
            cases.add(new SinkCase(4, w, RopeLayout.ADJACENT_PAIRS));
            if (!quick) {
                cases.add(new SinkCase(4, w, RopeLayout.HALF_SPLIT));
            }
            cases.add(new SinkCase(0, 4 + w, null));
        }
        return cases;
    }

    static final class SinkCase implements BenchCase {
        private final int sinks;
        private final int window;
        private final RopeLayout layout;
        private Arena arena;
        private SinkWindowKv kv;
        private MemorySegment q;
        private MemorySegment out;
        private final AttentionSpec spec = AttentionSpec.of(HQ, HKV, D, false);

        SinkCase(int sinks, int window, RopeLayout layout) {
            this.sinks = sinks;
            this.window = window;
            this.layout = layout;
        }

        @Override
        public String op() {
            return "decode sinks f16";
        }

        @Override
        public String shape() {
            return (sinks + window) + " tokens, " + HQ + "/" + HKV + " heads x " + D + " (Llama-3-8B)";
        }

        @Override
        public String impl() {
            String what = layout == null ? "plain (no rope)" : layout == RopeLayout.HALF_SPLIT
                    ? sinks + "+" + window + " rope half-split" : sinks + "+" + window + " rope adjacent";
            return "vector-api " + what + " x" + WorkerPool.shared().threads();
        }

        @Override
        public double bytes() {
            return (double) (sinks + window) * 2 * HKV * D * 2 + 2.0 * 4 * HQ * D;
        }

        @Override
        public double flops() {
            // q·k and p·v per key and query head; the rotation's 3 flops per key element are overhead, not counted
            return 4.0 * (sinks + window) * HQ * D;
        }

        @Override
        public Roofline roofline() {
            return Roofline.READ_BW;
        }

        @Override
        public void setup() {
            arena = Arena.ofShared();
            int cap = sinks + window;
            long elems = (long) HKV * cap * D;
            MemorySegment k = arena.allocate(2 * elems, 64);
            MemorySegment v = arena.allocate(2 * elems, 64);
            long state = 0x9E3779B97F4A7C15L;
            for (long i = 0; i < elems; i++) {
                state = state * 6364136223846793005L + 1442695040888963407L;
                k.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i,
                        Float.floatToFloat16((float) ((state >>> 40) * 0x1p-24 * 2 - 1)));
                v.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i,
                        Float.floatToFloat16((float) ((state >>> 16 & 0xffffff) * 0x1p-24 * 2 - 1)));
            }
            RopeTable rope = layout == null ? null : new RopeTable(cap, D, 5e5, layout);
            kv = new SinkWindowKv(1, HKV, D, sinks, window, DType.F16, k, v, rope);
            SinkWindow win = kv.window(0);
            // a stream past the capacity: the ring has wrapped and its head is mid-way (synthetic data, no writes)
            for (long t = 0; t < cap + window / 3; t++) {
                win.append();
            }
            q = arena.allocate(4L * HQ * D, 64);
            for (int i = 0; i < HQ * D; i++) {
                q.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) Math.sin(i * 0.37));
            }
            out = arena.allocate(4L * HQ * D, 64);
        }

        @Override
        public void run() {
            kv.decodeParallel(spec, q, 0, out, 0);
        }

        @Override
        public void close() {
            if (arena != null) {
                kv = null;
                arena.close();
                arena = null;
            }
        }
    }
}
