package dev.gale.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** The {@code gale} command. Each subcommand is a small class; this only dispatches and prints usage. */
public final class Gale {
    interface Command {
        String summary();

        /** Returns the process exit code. */
        int run(String[] args, PrintStream out);
    }

    private static final Map<String, Command> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("devices", new DevicesCommand());
        COMMANDS.put("check", new CheckCommand());
        COMMANDS.put("generate", new GenerateCommand());
        COMMANDS.put("perplexity", new PerplexityCommand());
        COMMANDS.put("quantize", new QuantizeCommand());
        COMMANDS.put("calibrate", new CalibrateCommand());
        COMMANDS.put("synth", new SynthCommand());
        COMMANDS.put("embed", new EmbedCommand());
        COMMANDS.put("demo", new DemoCommand());
    }

    private Gale() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out));
    }

    static int run(String[] args, PrintStream out) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
            usage(out);
            return args.length == 0 ? 2 : 0;
        }
        Command c = COMMANDS.get(args[0]);
        if (c == null) {
            out.println("gale: unknown command '" + args[0] + "'");
            usage(out);
            return 2;
        }
        return c.run(Arrays.copyOfRange(args, 1, args.length), out);
    }

    private static void usage(PrintStream out) {
        out.println("usage: gale <command> [options]");
        for (Map.Entry<String, Command> e : COMMANDS.entrySet()) {
            out.printf("  %-10s %s%n", e.getKey(), e.getValue().summary());
        }
    }
}
