package dev.gale.core.graph;

import dev.gale.core.GaleException;
import dev.gale.core.UnsupportedTaskException;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import dev.gale.core.device.ResidentMemory;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link TaskGraph} compiled for one device: each task has its device and implementation path fixed. A plan is
 * immutable and can be run concurrently from several threads, each with its own {@link Bindings}.
 */
public final class Plan {
    /** One task with its placement decided. */
    record Placed(TaskGraph.Task task, Device device, ImplPath path, String detail) {
    }

    private final TaskGraph graph;
    private final Device device;
    private final List<Placed> placed;
    /** The device's memory for the graph's resident tensors, or null: none declared, or the device has none. */
    private final ResidentMemory residentMemory;
    private final List<TensorParam> resident;
    /** Per task: the resident tensors it uses on the host, lent to it around its run; null for device launches. */
    private final List<List<TensorParam>> lentToHost;

    private Plan(TaskGraph graph, Device device, List<Placed> placed) {
        this.graph = graph;
        this.device = device;
        this.placed = List.copyOf(placed);
        List<TensorParam> declared = graph.residentTensors();
        this.residentMemory = declared.isEmpty() ? null : device.residentMemory();
        this.resident = residentMemory == null ? List.of() : declared;
        List<List<TensorParam>> lent = new ArrayList<>();
        for (Placed p : this.placed) {
            boolean onHost = p.task() instanceof TaskGraph.Host
                    || p.task() instanceof TaskGraph.Launch && p.device() != device;
            List<TensorParam> uses = new ArrayList<>();
            for (Arg a : onHost ? p.task().args() : List.<Arg>of()) {
                if (a instanceof TensorParam t && resident.contains(t) && !uses.contains(t)) {
                    uses.add(t);
                }
            }
            lent.add(uses.isEmpty() ? null : List.copyOf(uses));
        }
        this.lentToHost = lent;
    }

    static Plan compile(TaskGraph graph, Device device, TaskGraph.PlanOptions options) {
        List<Placed> out = new ArrayList<>();
        for (TaskGraph.Task t : graph.tasks()) {
            out.add(switch (t) {
                case TaskGraph.Launch l -> placeLaunch(graph, l, device, options);
                case TaskGraph.Transfer tr -> placeTransfer(graph, tr, device);
                case TaskGraph.Host h -> new Placed(h, CpuDevice.instance(), ImplPath.HOST, "");
            });
        }
        return new Plan(graph, device, out);
    }

    private static Placed placeLaunch(TaskGraph graph, TaskGraph.Launch l, Device device,
                                      TaskGraph.PlanOptions options) {
        List<ImplPath> paths = l.op().paths(device, l.args());
        if (options.forcedPath() != null) {
            if (!paths.contains(options.forcedPath())) {
                throw new UnsupportedTaskException("graph '" + graph.name() + "', task '" + l.name() + "': op "
                        + l.op().name() + " has no " + options.forcedPath() + " implementation on " + device.id()
                        + " (it has " + paths + ")");
            }
            String detail = l.op().detail(device, l.args());
            return new Placed(l, device, options.forcedPath(), detail.isEmpty() ? "forced" : "forced; " + detail);
        }
        if (!paths.isEmpty()) {
            return new Placed(l, device, paths.getFirst(), l.op().detail(device, l.args()));
        }
        CpuDevice cpu = CpuDevice.instance();
        List<ImplPath> cpuPaths = l.op().paths(cpu, l.args());
        if (!options.allowFallback() || cpuPaths.isEmpty()) {
            throw new UnsupportedTaskException("graph '" + graph.name() + "', task '" + l.name() + "': op "
                    + l.op().name() + " has no implementation on " + device.id() + " (" + device.name() + ")"
                    + (cpuPaths.isEmpty() ? "" : "; compile with PlanOptions.withFallback() to run it on the CPU"));
        }
        return new Placed(l, cpu, cpuPaths.getFirst(), "fallback: no " + device.backend() + " implementation");
    }

    private static Placed placeTransfer(TaskGraph graph, TaskGraph.Transfer tr, Device device) {
        if (device.capabilities().unifiedMemory()) {
            return new Placed(tr, device, ImplPath.TRANSFER, "shared host memory, no copy");
        }
        if (device.residentMemory() != null) {
            return new Placed(tr, device, ImplPath.TRANSFER, graph.residentTensors().contains(tr.param())
                    ? "copies a resident tensor" : "no copy: the tensor is copied around each launch");
        }
        throw new UnsupportedTaskException("graph '" + graph.name() + "', task '" + tr.name() + "': device "
                + device.id() + " has separate memory and its backend provides no transfers");
    }

    public TaskGraph graph() {
        return graph;
    }

    public Device device() {
        return device;
    }

    /** Fresh per-session bindings; bind every tensor and scalar the tasks use, then {@link #run}. */
    public Bindings newBindings() {
        return new Bindings(this);
    }

    List<Placed> placed() {
        return placed;
    }

    /** Runs every task in order with these bindings; returns what ran where and how long it took. */
    public RunReport run(Bindings bindings) {
        if (bindings.plan() != this) {
            throw new GaleException("bindings of plan '" + bindings.plan().graph.name() + "' used with plan '"
                    + graph.name() + "'");
        }
        bindings.checkComplete();
        if (residentMemory != null) {
            bindings.holdResident(residentMemory, resident);
        }
        long[] nanos = new long[placed.size()];
        boolean[] skipped = new boolean[placed.size()];
        long start = System.nanoTime();
        for (int i = 0; i < placed.size(); i++) {
            Placed p = placed.get(i);
            long t0 = System.nanoTime();
            if (lentToHost.get(i) != null) {
                for (TensorParam t : lentToHost.get(i)) {
                    residentMemory.lendToHost(bindings.buffer(t));
                }
            }
            switch (p.task()) {
                case TaskGraph.Launch l -> l.op().execute(p.path(), p.device(), bindings.context(i));
                case TaskGraph.Host h -> h.body().run(bindings.context(i));
                case TaskGraph.Transfer tr -> {
                    skipped[i] = !bindings.transferDue(i, tr);
                    if (!skipped[i] && residentMemory != null) {
                        if (tr.toDevice()) {
                            residentMemory.toDevice(bindings.buffer(tr.param()));
                        } else {
                            residentMemory.toHost(bindings.buffer(tr.param()));
                        }
                    }
                }
            }
            nanos[i] = System.nanoTime() - t0;
        }
        long total = System.nanoTime() - start;
        bindings.markRun();
        return new RunReport(graph.name(), device, placed, nanos, skipped, total);
    }

    /** The placement of every task, one per line. */
    public String describe() {
        StringBuilder b = new StringBuilder("plan '" + graph.name() + "' on " + device.id() + "\n");
        for (Placed p : placed) {
            b.append("  ").append(p.task().name()).append(" -> ").append(p.device().id()).append(' ')
                    .append(p.path()).append(p.detail().isEmpty() ? "" : " (" + p.detail() + ")").append('\n');
        }
        if (!resident.isEmpty()) {
            b.append("  resident on ").append(device.id()).append(": ")
                    .append(String.join(", ", resident.stream().map(TensorParam::name).toList())).append('\n');
        }
        return b.toString();
    }
}
