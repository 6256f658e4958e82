package dev.gale.kernels.attention;

/**
 * The slot addressing of one sequence's StreamingLLM cache (papers.md §6): {@code S} attention-sink slots pinned to
 * the first {@code S} tokens of the stream, then a ring of {@code W} slots holding the most recent {@code W} tokens.
 *
 * <p>The cache in <em>logical</em> order is the sinks followed by the window from oldest to newest; logical index
 * {@code i} is also the token's RoPE position ("positions are cache positions": with {@code S = 4, W = 4}, after
 * tokens 0…9 the cache holds stream tokens {@code [0,1,2,3,6,7,8,9]} at positions 0…7 and the query of token 9 is at
 * position 7). Logical {@code i < S} is slot {@code i}; logical {@code i ≥ S} is slot
 * {@code S + ((head + i − S) mod W)}, {@code head} being the ring offset of the oldest window token.
 *
 * <p>A decode step {@link #append appends} the current token first (evicting the oldest window token when the cache is
 * full, which is the state {@code evict_for_space(1)} then the concatenation leave in the reference code), then
 * attends over the {@link #length() n} cached tokens with the query at position {@code n − 1}. Keys are cached
 * un-rotated, so eviction never re-rotates anything. Mutable, not thread-safe: one writer per sequence.
 */
public final class SinkWindow {
    /** The StreamingLLM default: four sink tokens keep perplexity flat (papers.md §6, Llama-2). */
    public static final int DEFAULT_SINKS = 4;
    private final int sinks;
    private final int window;
    private long appended;
    private int head;

    /**
     * @param sinks  pinned slots {@code S ≥ 0}
     * @param window ring slots {@code W ≥ 1}
     */
    public SinkWindow(int sinks, int window) {
        if (sinks < 0 || window < 1 || (long) sinks + window > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("sink window: need sinks >= 0 and window >= 1, got " + sinks + " + "
                    + window);
        }
        this.sinks = sinks;
        this.window = window;
    }

    public int sinks() {
        return sinks;
    }

    public int window() {
        return window;
    }

    /** Slots per (sequence, KV head): {@code S + W}. */
    public int capacity() {
        return sinks + window;
    }

    /**
     * Puts the addressing where it stands after {@code appended} appends (a saved cache resumed): the slots depend on
     * nothing else, since the ring's head is {@code (appended − S − W) mod W} once it has wrapped.
     */
    public void restore(long appended) {
        if (appended < 0) {
            throw new IllegalArgumentException("sink window: appended must be >= 0, got " + appended);
        }
        this.appended = appended;
        this.head = appended <= capacity() ? 0 : (int) ((appended - capacity()) % window);
    }

    /** Tokens ever appended to the stream. */
    public long appended() {
        return appended;
    }

    /** Tokens cached, {@code n = min(appended, S + W)}: the keys the next attention sees. */
    public int length() {
        return (int) Math.min(appended, capacity());
    }

    /** Ring offset of the oldest window token (0 until the ring first wraps). */
    public int head() {
        return head;
    }

    /** The RoPE position of the query after the last append: {@code n − 1}. */
    public int queryPosition() {
        return length() - 1;
    }

    /** The slot of logical index {@code i}, {@code 0 ≤ i < length()}. */
    public int slot(int i) {
        if (i < 0 || i >= length()) {
            throw new IndexOutOfBoundsException("sink window: logical index " + i + " of " + length());
        }
        return slotOf(i, sinks, window, head);
    }

    /** The slot addressing itself, shared by the CPU paths and mirrored by {@code SinkKernels}. */
    static int slotOf(int i, int sinks, int window, int head) {
        if (i < sinks) {
            return i;
        }
        int r = head + (i - sinks);
        return sinks + (r >= window ? r - window : r);
    }

    /**
     * Logical indices {@code [i, end)} with {@code end} the first index whose slot does not follow slot {@code i}
     * contiguously (the end of the sinks, the end of the ring storage, or {@code to}): a range of the logical cache
     * is at most three contiguous slot runs, so inner loops step through slots without a modulo per token.
     */
    int runEnd(int i, int to) {
        if (i < sinks) {
            return Math.min(to, sinks);
        }
        int untilWrap = window - (head + (i - sinks)) % window;
        return (int) Math.min(to, (long) i + untilWrap);
    }

    /** The stream index of the token at logical index {@code i} (the first {@code S} tokens, then the newest). */
    public long token(int i) {
        if (i < 0 || i >= length()) {
            throw new IndexOutOfBoundsException("sink window: logical index " + i + " of " + length());
        }
        return i < sinks ? i : appended - (length() - i);
    }

    /**
     * Makes room for the next token and returns the slot it must be written to: a sink slot while the stream is
     * shorter than {@code S}, the next free ring slot until the ring is full, then the oldest window token's slot
     * (evicting it: the ring's head moves on).
     */
    public int append() {
        int slot;
        if (appended < capacity()) {
            slot = (int) appended;
        } else {
            slot = sinks + head;
            head = head + 1 == window ? 0 : head + 1;
        }
        appended++;
        return slot;
    }
}
