package dev.gale.tests;

import dev.gale.core.device.Device;
import dev.gale.cuda.CudaDeviceProvider;
import dev.gale.opencl.OpenClDevice;
import dev.gale.opencl.OpenClDeviceProvider;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The cross-device matrix: every op of {@link Ops#all()} (or a given list) on every target — the Vector API path, the
 * kernel emulator and each OpenCL and CUDA device present — each cell the largest relative error against the scalar
 * reference and PASS/FAIL against the op's tolerance. The test suite and {@code gale check} both print it.
 */
public final class CrossDeviceMatrix {
    /** One cell: op × target. */
    public record Cell(String op, String target, double maxRelative, boolean passed, long checked, String failure,
                       long millis) {
    }

    /**
     * The outcome.
     *
     * @param openClMissing why no OpenCL device took part, or null when at least one did
     * @param cudaMissing   why no CUDA device took part (no NVIDIA driver, for one), or null when at least one did
     */
    public record Result(List<OpCheck> ops, List<String> targets, Map<String, Cell> cells, String openClMissing,
                         String cudaMissing) {
        public Cell cell(String op, String target) {
            return cells.get(op + "\u0000" + target);
        }

        /** True when every cell passed. */
        public boolean passed() {
            return cells.values().stream().allMatch(Cell::passed);
        }

        public List<Cell> failures() {
            return cells.values().stream().filter(c -> !c.passed()).toList();
        }

        /** The matrix as text: one row per op, one column per target, then tolerances and failures. */
        public String render() {
            StringBuilder b = new StringBuilder();
            int opw = Math.max(8, ops.stream().mapToInt(o -> o.name().length()).max().orElse(8));
            int colw = Math.max(16, targets.stream().mapToInt(String::length).max().orElse(16) + 1);
            b.append(String.format(Locale.ROOT, "%-" + opw + "s", "op"));
            for (String t : targets) {
                b.append("  ").append(String.format(Locale.ROOT, "%-" + colw + "s", t));
            }
            b.append('\n');
            for (OpCheck op : ops) {
                b.append(String.format(Locale.ROOT, "%-" + opw + "s", op.name()));
                for (String t : targets) {
                    Cell c = cell(op.name(), t);
                    String v = c == null ? "-" : (Double.isInfinite(c.maxRelative()) ? "inf"
                            : String.format(Locale.ROOT, "%.1e", c.maxRelative())) + (c.passed() ? " PASS" : " FAIL");
                    b.append("  ").append(String.format(Locale.ROOT, "%-" + colw + "s", v));
                }
                b.append('\n');
            }
            b.append("\ncells: largest relative error against the scalar reference over all cases; tolerances:\n");
            for (OpCheck op : ops) {
                b.append(String.format(Locale.ROOT, "  %-" + opw + "s %s%n", op.name(), op.tolerance()));
            }
            if (openClMissing != null) {
                b.append("\nno OpenCL device took part: ").append(openClMissing).append('\n');
            }
            if (cudaMissing != null) {
                b.append("\nno CUDA device took part: ").append(cudaMissing).append('\n');
            }
            for (Cell c : failures()) {
                b.append("\nFAIL ").append(c.op()).append(" on ").append(c.target()).append(": ").append(c.failure());
            }
            if (!failures().isEmpty()) {
                b.append('\n');
            }
            return b.toString();
        }
    }

    private CrossDeviceMatrix() {
    }

    /** Every op on the Vector API path, the emulator and every OpenCL and CUDA device present. */
    public static Result run(PrintStream progress) {
        return run(Ops.all(), progress);
    }

    public static Result run(List<OpCheck> ops, PrintStream progress) {
        List<Target> targets = new ArrayList<>();
        targets.add(Target.vectorApi("vector-api"));
        targets.add(Target.emulator());
        OpenClDeviceProvider provider = new OpenClDeviceProvider();
        String missing = null;
        List<Device> devices = new ArrayList<>(provider.devices());
        if (devices.isEmpty()) {
            missing = provider.unavailableReason() != null ? provider.unavailableReason() : "no OpenCL device";
        }
        CudaDeviceProvider cuda = new CudaDeviceProvider();
        String cudaMissing = cuda.devices().isEmpty() ? cuda.unavailableReason() : null;
        devices.addAll(cuda.devices());
        Map<String, Cell> cells = new LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        try {
            for (Device d : devices) {
                try {
                    targets.add(d instanceof OpenClDevice cl ? Target.openCl(cl) : Target.device(d));
                } catch (RuntimeException e) {
                    names.add(d.id());
                    for (OpCheck op : ops) {
                        cells.put(op.name() + "\u0000" + d.id(), new Cell(op.name(), d.id(), Double.POSITIVE_INFINITY,
                                false, 0, "cannot open a context: " + e.getMessage(), 0));
                    }
                }
            }
            for (Target t : targets) {
                names.add(t.name());
            }
            for (OpCheck op : ops) {
                for (Target t : targets) {
                    Errors e = new Errors();
                    long start = System.nanoTime();
                    try {
                        op.body().run(t, e);
                    } catch (Exception | AssertionError ex) {
                        e.failed("run", ex);
                    }
                    long ms = (System.nanoTime() - start) / 1_000_000;
                    Cell c = new Cell(op.name(), t.name(), e.maxRelative(), e.passed(), e.checked(), e.firstFailure(),
                            ms);
                    cells.put(op.name() + "\u0000" + t.name(), c);
                    if (progress != null) {
                        progress.printf(Locale.ROOT, "%-14s %-10s %s (%d values, %d ms)%n", op.name(), t.name(),
                                c.passed() ? "PASS" : "FAIL", c.checked(), ms);
                    }
                }
            }
        } finally {
            for (Target t : targets) {
                t.close();
            }
        }
        return new Result(List.copyOf(ops), List.copyOf(names), cells, missing, cudaMissing);
    }
}
