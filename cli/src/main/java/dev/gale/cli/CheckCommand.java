package dev.gale.cli;

import dev.gale.tests.CrossDeviceMatrix;
import dev.gale.tests.OpCheck;
import dev.gale.tests.Ops;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code gale check}: the cross-device matrix on this machine — every op on the Vector API path, the kernel emulator
 * and each OpenCL and CUDA device, against the scalar references. Prints the matrix; exit code 1 when any cell fails (or, with
 * {@code --require-opencl} or {@code GALE_REQUIRE_OPENCL=1}, when no OpenCL device took part), 2 on bad usage.
 */
final class CheckCommand implements Gale.Command {
    @Override
    public String summary() {
        return "run every op on every device against the reference and print the matrix";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        boolean verbose = false;
        boolean requireOpenCl = "1".equals(System.getenv("GALE_REQUIRE_OPENCL"));
        List<String> only = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-v", "--verbose" -> verbose = true;
                case "--require-opencl" -> requireOpenCl = true;
                case "--op" -> {
                    if (i + 1 >= args.length) {
                        out.println("gale check: --op needs an op name");
                        return 2;
                    }
                    only.add(args[++i].toLowerCase(Locale.ROOT));
                }
                default -> {
                    out.println("gale check: unknown option '" + args[i] + "'");
                    out.println("usage: gale check [--op NAME]... [--require-opencl] [-v]");
                    return 2;
                }
            }
        }
        List<OpCheck> ops = Ops.all();
        if (!only.isEmpty()) {
            List<String> known = ops.stream().map(OpCheck::name).toList();
            for (String o : only) {
                if (!known.contains(o)) {
                    out.println("gale check: unknown op '" + o + "'; ops: " + String.join(", ", known));
                    return 2;
                }
            }
            ops = ops.stream().filter(o -> only.contains(o.name())).toList();
        }
        CrossDeviceMatrix.Result result = CrossDeviceMatrix.run(ops, verbose ? out : null);
        out.print(result.render());
        if (result.openClMissing() != null && requireOpenCl) {
            out.println("gale check: an OpenCL device is required and none took part");
            return 1;
        }
        out.println(result.passed() ? "gale check: all " + result.cells().size() + " cells passed"
                : "gale check: " + result.failures().size() + " of " + result.cells().size() + " cells failed");
        return result.passed() ? 0 : 1;
    }
}
