package dev.gale.models.bert;

import dev.gale.kernels.activation.Gelu;
import java.lang.foreign.MemorySegment;

/**
 * A linear layer with bias over a padded batch: {@code y[r] = x[r]·W + b} for the {@code batch·seq} rows of
 * {@code x} (row-major F32 {@code [batch·seq][in]}), written to {@code y} ({@code [batch·seq][out]}). The sentence
 * structure is passed because a dynamically quantized layer takes its activation range per sentence.
 */
public interface Linear {
    int in();

    int out();

    void apply(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths);

    /**
     * {@link #apply} then GELU (erf) on {@code y}, the FFN's first half; the bits of the two steps, which an
     * implementation may fuse (GELU on each block of outputs while it is still in cache).
     */
    default void applyGelu(MemorySegment x, MemorySegment y, int batch, int seq, int[] lengths) {
        apply(x, y, batch, seq, lengths);
        Gelu.applyParallel(Gelu.Variant.ERF, y, 0, y, 0, (long) batch * seq * out());
    }
}
