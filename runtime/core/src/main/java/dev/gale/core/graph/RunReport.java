package dev.gale.core.graph;

import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import java.util.ArrayList;
import java.util.List;

/** What one run of a plan did: for each task the device, the implementation path and the time taken. */
public final class RunReport {
    /** One task's line. {@code skipped} is true for a transfer whose mode said not this run. */
    public record TaskReport(String task, String device, ImplPath path, String detail, long nanos, boolean skipped) {
    }

    private final String graph;
    private final Device device;
    private final List<TaskReport> tasks;
    private final long totalNanos;

    RunReport(String graph, Device device, List<Plan.Placed> placed, long[] nanos, boolean[] skipped,
              long totalNanos) {
        this.graph = graph;
        this.device = device;
        List<TaskReport> list = new ArrayList<>(placed.size());
        for (int i = 0; i < placed.size(); i++) {
            Plan.Placed p = placed.get(i);
            list.add(new TaskReport(p.task().name(), p.device().id(), p.path(), p.detail(), nanos[i], skipped[i]));
        }
        this.tasks = List.copyOf(list);
        this.totalNanos = totalNanos;
    }

    public List<TaskReport> tasks() {
        return tasks;
    }

    public TaskReport task(String name) {
        for (TaskReport t : tasks) {
            if (t.task().equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("no task '" + name + "' in the report of '" + graph + "'");
    }

    public long totalNanos() {
        return totalNanos;
    }

    /** True if any task ran somewhere other than where the plan's device would have run it. */
    public boolean anyFallback() {
        return tasks.stream().anyMatch(t -> t.detail().startsWith("fallback"));
    }

    /** A fixed-width table: task, device, path, time, notes. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        b.append(String.format("run of '%s' on %s: %.3f ms%n", graph, device.id(), totalNanos / 1e6));
        int w = Math.max(4, tasks.stream().mapToInt(t -> t.task().length()).max().orElse(4));
        b.append(String.format("  %-" + w + "s  %-10s  %-13s  %10s  %s%n", "task", "device", "path", "time", "notes"));
        for (TaskReport t : tasks) {
            b.append(String.format("  %-" + w + "s  %-10s  %-13s  %10s  %s%n", t.task(), t.device(), t.path(),
                    t.skipped() ? "-" : String.format("%.1f us", t.nanos() / 1e3),
                    (t.skipped() ? "skipped this run; " : "") + t.detail()));
        }
        return b.toString();
    }
}
