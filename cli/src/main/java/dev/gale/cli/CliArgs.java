package dev.gale.cli;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --name value} options of a subcommand, checked against the names it knows. Errors are
 * {@link IllegalArgumentException}s with a message fit for the user; commands print it with their usage and exit 2.
 */
final class CliArgs {
    private final String command;
    private final Map<String, String> values = new HashMap<>();

    private CliArgs(String command) {
        this.command = command;
    }

    /** Parses {@code args}; every option takes one value and must be one of {@code known}. */
    static CliArgs parse(String command, String[] args, Set<String> known) {
        return parse(command, args, known, null);
    }

    /**
     * As {@link #parse(String, String[], Set)}, but arguments that do not start with {@code --} (and every argument
     * after a lone {@code --}) are collected into {@code positionals} instead of being errors.
     */
    static CliArgs parse(String command, String[] args, Set<String> known, List<String> positionals) {
        CliArgs a = new CliArgs(command);
        for (int i = 0; i < args.length; i++) {
            String k = args[i];
            if (positionals != null && k.equals("--")) {
                positionals.addAll(List.of(args).subList(i + 1, args.length));
                break;
            }
            if (positionals != null && !k.startsWith("--")) {
                positionals.add(k);
                continue;
            }
            if (!k.startsWith("--") || !known.contains(k.substring(2))) {
                throw new IllegalArgumentException("gale " + command + ": unknown option '" + k + "'; options: --"
                        + String.join(", --", known.stream().sorted().toList()));
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("gale " + command + ": " + k + " needs a value");
            }
            a.values.put(k.substring(2), args[++i]);
        }
        return a;
    }

    String get(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    String require(String name) {
        String v = values.get(name);
        if (v == null) {
            throw new IllegalArgumentException("gale " + command + ": --" + name + " is required");
        }
        return v;
    }

    boolean has(String name) {
        return values.containsKey(name);
    }

    int integer(String name, int fallback, int min) {
        String v = values.get(name);
        try {
            int n = v == null ? fallback : Integer.parseInt(v);
            if (n < min) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("gale " + command + ": --" + name + " must be an integer >= " + min
                    + ", got '" + v + "'");
        }
    }

    float decimal(String name, float fallback) {
        String v = values.get(name);
        try {
            return v == null ? fallback : Float.parseFloat(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("gale " + command + ": --" + name + " must be a number, got '" + v
                    + "'");
        }
    }

    String choice(String name, String fallback, List<String> allowed) {
        String v = get(name, fallback);
        if (!allowed.contains(v)) {
            throw new IllegalArgumentException("gale " + command + ": --" + name + " must be one of " + allowed
                    + ", got '" + v + "'");
        }
        return v;
    }
}
