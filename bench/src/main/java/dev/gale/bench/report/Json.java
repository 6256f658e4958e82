package dev.gale.bench.report;

import java.util.List;
import java.util.Map;

/**
 * A small JSON writer for trees of {@link Map} (written in iteration order), {@link List}, {@code double[]},
 * {@link String}, {@link Number}, {@link Boolean} and null. Non-finite numbers are written as null.
 */
final class Json {
    private Json() {
    }

    static String write(Object value) {
        StringBuilder b = new StringBuilder();
        write(b, value, 0);
        return b.append('\n').toString();
    }

    private static void write(StringBuilder b, Object v, int indent) {
        switch (v) {
            case null -> b.append("null");
            case String s -> string(b, s);
            case Boolean bool -> b.append(bool);
            case Double d -> number(b, d);
            case Float f -> number(b, f);
            case Number n -> b.append(n.longValue());
            case double[] arr -> {
                b.append('[');
                for (int i = 0; i < arr.length; i++) {
                    b.append(i == 0 ? "" : ", ");
                    number(b, arr[i]);
                }
                b.append(']');
            }
            case Map<?, ?> map -> {
                if (map.isEmpty()) {
                    b.append("{}");
                    return;
                }
                b.append("{\n");
                int i = 0;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    pad(b, indent + 1);
                    string(b, String.valueOf(e.getKey()));
                    b.append(": ");
                    write(b, e.getValue(), indent + 1);
                    b.append(++i < map.size() ? ",\n" : "\n");
                }
                pad(b, indent);
                b.append('}');
            }
            case List<?> list -> {
                if (list.isEmpty()) {
                    b.append("[]");
                    return;
                }
                b.append("[\n");
                for (int i = 0; i < list.size(); i++) {
                    pad(b, indent + 1);
                    write(b, list.get(i), indent + 1);
                    b.append(i + 1 < list.size() ? ",\n" : "\n");
                }
                pad(b, indent);
                b.append(']');
            }
            default -> throw new IllegalArgumentException("no JSON form for " + v.getClass().getName());
        }
    }

    private static void number(StringBuilder b, double d) {
        if (!Double.isFinite(d)) {
            b.append("null");
        } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
            b.append((long) d);
        } else {
            b.append(d);
        }
    }

    private static void string(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        b.append('"');
    }

    private static void pad(StringBuilder b, int indent) {
        b.append("  ".repeat(indent));
    }
}
