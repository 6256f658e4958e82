package dev.gale.kernels.quant;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One matmul input quantized once for every W4Ax matrix that reads it (COMET: "where possible, activation
 * quantization is fused into the preceding RMSNorm"): the normalised vector of a decoder layer feeds wq, wk and wv
 * (or w1 and w3), which share its {@link ChannelBlocks} layout, so its producer ({@code RmsNormQuantOp}) quantizes it
 * once and the {@link W4AxMatMulOp}s built over this object read that quantization instead of each quantizing the
 * same F32 tensor again.
 *
 * <p>The buffer is per thread, as the matmul op's own was (one plan may run from several threads, and a plan runs its
 * tasks in order on the thread that runs it), and grows to the largest token count seen. Each fill records the F32
 * tensor it was quantized from; a reader finds the quantization only when it names that same tensor and token
 * count, and otherwise quantizes the tensor itself (a graph with the plain RMSNorm stays correct).
 */
public final class QuantizedInput {
    private final ChannelBlocks layout;
    private final ThreadLocal<State> state = ThreadLocal.withInitial(State::new);

    private static final class State {
        ActivationQuant buffer;
        long source = -1;
        int tokens;
    }

    public QuantizedInput(ChannelBlocks layout) {
        this.layout = layout;
    }

    public ChannelBlocks layout() {
        return layout;
    }

    /** Whether activations quantized with {@code a} are those {@code b} would produce (same blocks, map and clip). */
    public static boolean sameQuantization(ChannelBlocks a, ChannelBlocks b) {
        return a == b || a.in() == b.in() && a.span() == b.span() && a.width() == b.width()
                && a.eightBitChannels() == b.eightBitChannels()
                && Float.floatToIntBits(a.activationClip()) == Float.floatToIntBits(b.activationClip());
    }

    /**
     * This thread's buffer, with room for {@code tokens}, recorded as holding the quantization of {@code source}
     * ({@code tokens} rows of {@link ChannelBlocks#in()} floats); the caller fills it before any reader runs.
     */
    public ActivationQuant fill(MemorySegment source, int tokens) {
        State s = state.get();
        if (s.buffer == null || s.buffer.maxTokens() < tokens) {
            s.buffer = ActivationQuant.allocate(tokens, layout.width(), layout.eightBit(), Arena.ofAuto());
        }
        s.source = source.address();
        s.tokens = tokens;
        return s.buffer;
    }

    /** This thread's buffer if its last fill was from {@code source} with {@code tokens} tokens, else null. */
    ActivationQuant filledFrom(MemorySegment source, int tokens) {
        State s = state.get();
        return s.buffer != null && s.source == source.address() && s.tokens == tokens ? s.buffer : null;
    }
}
