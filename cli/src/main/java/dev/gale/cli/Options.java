package dev.gale.cli;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** {@code --name value} options of one command, with the command's usage line for errors. */
final class Options {
    private final Map<String, String> values = new HashMap<>();
    private final String error;

    private Options(Map<String, String> values, String error) {
        this.values.putAll(values);
        this.error = error;
    }

    /** Parses {@code args}; every option takes a value and must be one of {@code known}. */
    static Options parse(String[] args, List<String> known) {
        Map<String, String> v = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!known.contains(args[i])) {
                return new Options(v, "unknown option '" + args[i] + "'");
            }
            if (i + 1 >= args.length) {
                return new Options(v, args[i] + " needs a value");
            }
            v.put(args[i], args[++i]);
        }
        return new Options(v, null);
    }

    /** Why parsing failed, or the first required option that is missing; null when all is well. */
    String problem(List<String> required) {
        if (error != null) {
            return error;
        }
        for (String r : required) {
            if (!values.containsKey(r)) {
                return r + " is required";
            }
        }
        return null;
    }

    String get(String name) {
        return values.get(name);
    }

    String get(String name, String absent) {
        return values.getOrDefault(name, absent);
    }
}
