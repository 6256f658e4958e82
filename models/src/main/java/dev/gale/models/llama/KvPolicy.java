package dev.gale.models.llama;

/**
 * Which tokens a session's cache keeps:
 * <ul>
 *   <li>{@link #FULL}: all of them, up to the capacity;</li>
 *   <li>{@code sinks:S,window:W}: StreamingLLM's attention sinks plus a rolling window, positions re-indexed to the
 *       cache, so generation runs past any length;</li>
 *   <li>{@code h2o:heavy:H,recent:R}: H2O's heavy hitters (the H tokens with the most accumulated attention) plus the
 *       R most recent, original positions kept.</li>
 * </ul>
 */
public record KvPolicy(Kind kind, int first, int second) {
    public enum Kind { FULL, SINKS, H2O }

    public static final KvPolicy FULL = new KvPolicy(Kind.FULL, 0, 0);

    public KvPolicy {
        boolean ok = switch (kind) {
            case FULL -> first == 0 && second == 0;
            case SINKS -> first >= 0 && second >= 1;
            case H2O -> first >= 0 && second >= 1;
        };
        if (!ok) {
            throw new IllegalArgumentException("kv policy " + kind + ": sizes " + first + ", " + second
                    + " (sinks or heavy >= 0, window or recent >= 1)");
        }
    }

    public static KvPolicy sinks(int sinks, int window) {
        return new KvPolicy(Kind.SINKS, sinks, window);
    }

    public static KvPolicy h2o(int heavy, int recent) {
        return new KvPolicy(Kind.H2O, heavy, recent);
    }

    public boolean sinks() {
        return kind == Kind.SINKS;
    }

    public boolean h2o() {
        return kind == Kind.H2O;
    }

    public int sinkCount() {
        return sinks() ? first : 0;
    }

    public int window() {
        return sinks() ? second : 0;
    }

    /** Tokens the cache holds at most (0 for the full policy, whose capacity is the session's). */
    public int budget() {
        return kind == Kind.FULL ? 0 : first + second;
    }

    /** {@code full}, {@code sinks:S,window:W} (or {@code window:W}), or {@code h2o:heavy:H,recent:R}. */
    public static KvPolicy parse(String s) {
        if (s.equals("full")) {
            return FULL;
        }
        boolean h2o = s.startsWith("h2o:");
        String body = h2o ? s.substring(4) : s;
        int a = 0;
        int b = -1;
        for (String part : body.split(",")) {
            String[] kv = part.split(":", 2);
            try {
                switch (kv[0]) {
                    case "sinks", "heavy" -> {
                        if (kv[0].equals("heavy") != h2o) {
                            throw new IllegalArgumentException("'" + kv[0] + "' belongs to the other policy");
                        }
                        a = Integer.parseInt(kv[1]);
                    }
                    case "window", "recent" -> {
                        if (kv[0].equals("recent") != h2o) {
                            throw new IllegalArgumentException("'" + kv[0] + "' belongs to the other policy");
                        }
                        b = Integer.parseInt(kv[1]);
                    }
                    default -> throw new IllegalArgumentException("unknown part '" + kv[0] + "'");
                }
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("kv policy '" + s + "': expected full, sinks:S,window:W or "
                        + "h2o:heavy:H,recent:R (" + e.getMessage() + ")");
            }
        }
        if (b < 1) {
            throw new IllegalArgumentException("kv policy '" + s + "': " + (h2o ? "recent:R" : "window:W")
                    + " with a value >= 1 is required");
        }
        return h2o ? h2o(a, b) : sinks(a, b);
    }

    @Override
    public String toString() {
        return switch (kind) {
            case FULL -> "full";
            case SINKS -> "sinks:" + first + ",window:" + second;
            case H2O -> "h2o:heavy:" + first + ",recent:" + second;
        };
    }
}
