package dev.gale.kernels.sampling;

/**
 * llama2.c's random number generator (xorshift64*), so a seeded Gale run draws the same coins as llama2.c with the
 * same seed. The coin is drawn on the host and passed to whichever device samples, so every device samples the same
 * token for the same seed.
 */
public final class Xorshift {
    private long state;

    public Xorshift(long seed) {
        if (seed == 0) {
            throw new IllegalArgumentException("xorshift: the seed must be non-zero (a zero state stays zero)");
        }
        this.state = seed;
    }

    /** The generator's whole state, to save with a session and resume from ({@link #Xorshift(long)} takes it back). */
    public long state() {
        return state;
    }

    /** The next 32 random bits, as llama2.c's {@code random_u32}. */
    public int nextInt() {
        state ^= state >>> 12;
        state ^= state << 25;
        state ^= state >>> 27;
        return (int) ((state * 0x2545F4914F6CDD1DL) >>> 32);
    }

    /** A float in [0, 1) with 24 random bits, as llama2.c's {@code random_f32}. */
    public float nextCoin() {
        return (nextInt() >>> 8) / 16777216.0f;
    }
}
