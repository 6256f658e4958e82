package dev.gale.core.graph;

import dev.gale.core.GaleException;
import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Declares what happens, in order: transfers, kernel launches and host tasks over typed tensor and scalar handles.
 * {@link #compile} turns it into a {@link Plan} for one device; the plan is run many times with per-run
 * {@link Bindings}. Building a graph checks every launch's shapes, so a mismatch fails here, not mid-run.
 */
public final class TaskGraph {
    sealed interface Task permits Launch, Transfer, Host {
        String name();

        List<Arg> args();
    }

    record Launch(String name, Op op, List<Arg> args) implements Task {
    }

    record Transfer(String name, TensorParam param, TransferMode mode, boolean toDevice) implements Task {
        @Override
        public List<Arg> args() {
            return List.of(param);
        }
    }

    record Host(String name, HostTask body, List<Arg> args) implements Task {
    }

    private final String name;
    private final List<TensorParam> tensors = new ArrayList<>();
    private final List<IntScalar> ints = new ArrayList<>();
    private final List<FloatScalar> floats = new ArrayList<>();
    private final List<Task> tasks = new ArrayList<>();
    private final Set<String> taskNames = new HashSet<>();
    private final Set<TensorParam> resident = new LinkedHashSet<>();

    public TaskGraph(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** Declares a tensor whose buffer is bound per run; its dtype and shape are checked at bind time. */
    public TensorParam tensor(String paramName, DType dtype, long... shape) {
        return tensor(paramName, TensorDesc.of(dtype, shape));
    }

    public TensorParam tensor(String paramName, TensorDesc desc) {
        TensorParam p = new TensorParam(this, tensors.size(), paramName, desc);
        tensors.add(p);
        return p;
    }

    public IntScalar intScalar(String paramName) {
        IntScalar s = new IntScalar(this, ints.size(), paramName);
        ints.add(s);
        return s;
    }

    public FloatScalar floatScalar(String paramName) {
        FloatScalar s = new FloatScalar(this, floats.size(), paramName);
        floats.add(s);
        return s;
    }

    /** Host → device copy of {@code param} in the given mode (no copy at all where the device shares host memory). */
    public TaskGraph transferToDevice(TensorParam param, TransferMode mode) {
        own(param, "transfer");
        return add(new Transfer("to-device " + param.name(), param, mode, true));
    }

    /** Device → host copy of {@code param}. */
    public TaskGraph transferToHost(TensorParam param, TransferMode mode) {
        own(param, "transfer");
        return add(new Transfer("to-host " + param.name(), param, mode, false));
    }

    /**
     * Keeps these tensors in the memory of a device that has its own ({@link Device#residentMemory()}) from their
     * first launch on, between launches and between runs: a kernel's output stays where the next kernel reads it.
     * They move to the host only through {@link #transferToHost}, {@link Bindings#toHost} or a task that runs on the
     * host (a host task, an op placed on the CPU), and to the device only through {@link #transferToDevice},
     * {@link Bindings#toDevice} or their first use. So the graph's author promises that the ops touching them use
     * them only in kernels on such a device, and that the host writes them between runs only through those calls.
     * Tensors not declared here are copied to the device before each launch that reads them and back after each that
     * writes them. On the CPU and on devices that read host memory, the declaration changes nothing.
     */
    public TaskGraph resident(TensorParam... params) {
        for (TensorParam p : params) {
            own(p, "resident");
            resident.add(p);
        }
        return this;
    }

    /** Adds a launch of {@code op}; checks the arguments' shapes now. */
    public TaskGraph launch(String taskName, Op op, Arg... args) {
        List<Arg> list = List.of(args);
        for (Arg a : list) {
            own(a, taskName);
        }
        try {
            op.check(list);
        } catch (ShapeMismatchException e) {
            throw new ShapeMismatchException("launch '" + taskName + "' of " + op.name() + ": " + e.getMessage());
        }
        return add(new Launch(taskName, op, list));
    }

    /** Adds Java code run on the host; {@code uses} lists the handles it reads, so binding checks cover them. */
    public TaskGraph host(String taskName, HostTask body, Arg... uses) {
        for (Arg a : uses) {
            own(a, taskName);
        }
        return add(new Host(taskName, body, List.of(uses)));
    }

    /** A plan for {@code device}; a task the device cannot run is an error. */
    public Plan compile(Device device) {
        return compile(device, PlanOptions.DEFAULT);
    }

    public Plan compile(Device device, PlanOptions options) {
        return Plan.compile(this, device, options);
    }

    List<Task> tasks() {
        return List.copyOf(tasks);
    }

    List<TensorParam> tensors() {
        return List.copyOf(tensors);
    }

    List<TensorParam> residentTensors() {
        return List.copyOf(resident);
    }

    int intCount() {
        return ints.size();
    }

    int floatCount() {
        return floats.size();
    }

    private TaskGraph add(Task t) {
        if (!taskNames.add(t.name())) {
            throw new GaleException("graph '" + name + "' already has a task named '" + t.name() + "'");
        }
        tasks.add(t);
        return this;
    }

    private void own(Arg a, String where) {
        TaskGraph g = switch (a) {
            case TensorParam p -> p.graph();
            case IntScalar s -> s.graph();
            case FloatScalar s -> s.graph();
            case Arg.IntConst c -> this;
            case Arg.FloatConst c -> this;
        };
        if (g != this) {
            throw new GaleException("'" + where + "' uses " + a + " of graph '" + g.name + "' in graph '" + name + "'");
        }
    }

    /** Options for {@link #compile(Device, PlanOptions)}. */
    public record PlanOptions(boolean allowFallback, ImplPath forcedPath) {
        /** No fallback; each task takes its device's best implementation. */
        public static final PlanOptions DEFAULT = new PlanOptions(false, null);

        /** Tasks the device cannot run go to the CPU, and the run report says so. */
        public static PlanOptions withFallback() {
            return new PlanOptions(true, null);
        }

        /** Every launch must use {@code path} (for example REFERENCE in tests), else compiling fails. */
        public static PlanOptions forcing(ImplPath path) {
            return new PlanOptions(false, path);
        }
    }
}
