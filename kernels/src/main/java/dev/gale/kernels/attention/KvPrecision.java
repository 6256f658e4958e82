package dev.gale.kernels.attention;

/**
 * The element precision of a KV cache, and what a cached token costs in it. Dense precisions store every key and
 * value element; the integer ones are KIVI caches (papers.md §5): codes of {@link #bits()} bits plus one F32 scale and
 * one F32 zero point per group of {@code G} elements (keys per channel over {@code G} tokens, values per token over
 * {@code G} channels).
 */
public enum KvPrecision {
    F32(32, false),
    F16(16, false),
    INT8(8, true),
    INT4(4, true),
    INT2(2, true);

    /** Bytes of one scale plus one zero point (both F32). */
    public static final int SCALE_ZERO_BYTES = 8;

    private final int bits;
    private final boolean quantized;

    KvPrecision(int bits, boolean quantized) {
        this.bits = bits;
        this.quantized = quantized;
    }

    public int bits() {
        return bits;
    }

    /** True for the KIVI precisions. */
    public boolean quantized() {
        return quantized;
    }

    /**
     * Bytes one cached token costs per layer, keys and values of all {@code kvHeads} heads of dim {@code d}, scales
     * and zero points included and amortised over their group of {@code G}: the steady state a long context tends to.
     * A quantized cache also holds full-precision residual windows (under {@code R} key tokens and {@code R} value
     * tokens per sequence); that constant is {@link #residualBytes} and is not amortised here, because its share
     * depends on the context length ({@link #bytesPerToken(int, int, int, int, long, KvPrecision)} includes it).
     * Dense precisions ignore {@code G} and {@code R}.
     */
    public double bytesPerToken(int kvHeads, int d, int G, int R) {
        if (!quantized) {
            return 2.0 * kvHeads * d * bits / 8.0;
        }
        KiviLayout.check(bits, G, R, d);
        double codes = d * bits / 8.0; // one token of one head, keys or values
        double scales = (double) d / G * SCALE_ZERO_BYTES; // keys: d channels / G tokens; values: d/G groups
        return 2.0 * kvHeads * (codes + scales);
    }

    /**
     * Bytes per token at a context of {@code length} tokens, the worst-case residual windows ({@code R − 1} keys and
     * {@code R} values in {@code residual} precision, allocated in full) amortised over the context.
     */
    public double bytesPerToken(int kvHeads, int d, int G, int R, long length, KvPrecision residual) {
        double total = bytesPerToken(kvHeads, d, G, R) * length;
        if (quantized) {
            total += residualBytes(kvHeads, d, R, residual);
        }
        return total / Math.max(1, length);
    }

    /** Bytes of one sequence's residual windows: {@code R} key and {@code R} value slots per KV head. */
    public static long residualBytes(int kvHeads, int d, int R, KvPrecision residual) {
        if (residual.quantized) {
            throw new IllegalArgumentException("kv cache: the residual window is F32 or F16, got " + residual);
        }
        return 2L * kvHeads * R * d * residual.bits / 8;
    }
}
