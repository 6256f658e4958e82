package dev.gale.models.llama;

/**
 * Which tokens a session's cache keeps: all of them ({@link #FULL}, up to the capacity), or StreamingLLM's attention
 * sinks plus a rolling window ({@code sinks:S,window:W}), where positions are cache positions and generation can run
 * past any length.
 */
public record KvPolicy(int sinkCount, int window) {
    public static final KvPolicy FULL = new KvPolicy(0, 0);

    public KvPolicy {
        if (sinkCount < 0 || window < 0 || (window == 0 && sinkCount > 0)) {
            throw new IllegalArgumentException("kv policy: sinks >= 0 and window >= 1 (or both 0 for full), got "
                    + sinkCount + ", " + window);
        }
    }

    public boolean sinks() {
        return window > 0;
    }

    /** {@code full} or {@code sinks:S,window:W} (also {@code window:W} alone, meaning no sinks). */
    public static KvPolicy parse(String s) {
        if (s.equals("full")) {
            return FULL;
        }
        int sinks = 0;
        int window = -1;
        for (String part : s.split(",")) {
            String[] kv = part.split(":", 2);
            try {
                switch (kv[0]) {
                    case "sinks" -> sinks = Integer.parseInt(kv[1]);
                    case "window" -> window = Integer.parseInt(kv[1]);
                    default -> throw new IllegalArgumentException("unknown part '" + kv[0] + "'");
                }
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("kv policy '" + s + "': expected full or sinks:S,window:W ("
                        + e.getMessage() + ")");
            }
        }
        if (window < 1) {
            throw new IllegalArgumentException("kv policy '" + s + "': window:W with W >= 1 is required");
        }
        return new KvPolicy(sinks, window);
    }

    @Override
    public String toString() {
        return sinks() ? "sinks:" + sinkCount + ",window:" + window : "full";
    }
}
