package dev.gale.core.graph;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.UnboundParameterException;
import dev.gale.core.GaleException;
import dev.gale.core.buffer.Buffer;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.device.ResidentMemory;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One session's buffers and scalar values for a {@link Plan}. Binding checks the buffer against the handle's
 * declared dtype and shape, and holds the buffer so that closing it while bound fails. Scalars can change between
 * runs without recompiling. A Bindings is used by one thread at a time; separate Bindings run concurrently.
 */
public final class Bindings implements AutoCloseable {
    private static final AtomicInteger IDS = new AtomicInteger();

    private final Plan plan;
    private final String owner;
    private final Buffer[] tensors;
    private final int[] ints;
    private final boolean[] intSet;
    private final float[] floats;
    private final boolean[] floatSet;
    private final boolean[] transferRequested;
    private final Context[] contexts;
    /** Per tensor: the buffer held in {@link #memory} for a resident tensor, else null. */
    private final Buffer[] held;
    private ResidentMemory memory;
    private boolean ranOnce;
    private boolean closed;

    Bindings(Plan plan) {
        this.plan = plan;
        this.owner = "plan '" + plan.graph().name() + "' bindings #" + IDS.incrementAndGet();
        List<TensorParam> params = plan.graph().tensors();
        this.tensors = new Buffer[params.size()];
        this.transferRequested = new boolean[params.size()];
        this.held = new Buffer[params.size()];
        this.ints = new int[plan.graph().intCount()];
        this.intSet = new boolean[ints.length];
        this.floats = new float[plan.graph().floatCount()];
        this.floatSet = new boolean[floats.length];
        List<Plan.Placed> placed = plan.placed();
        this.contexts = new Context[placed.size()];
        for (int i = 0; i < contexts.length; i++) {
            contexts[i] = new Context(placed.get(i).task().args());
        }
    }

    Plan plan() {
        return plan;
    }

    /**
     * Binds {@code buffer} to {@code param}: same dtype, and at least as many elements as the declared shape spans.
     */
    public Bindings bind(TensorParam param, Buffer buffer) {
        checkOpen();
        if (param.graph() != plan.graph()) {
            throw new GaleException("tensor " + param + " is not a parameter of graph '" + plan.graph().name() + "'");
        }
        TensorDesc d = param.desc();
        if (buffer.dtype() != d.dtype()) {
            throw new ShapeMismatchException("tensor '" + param.name() + "' is declared " + d + " but buffer '"
                    + buffer.name() + "' holds " + buffer.dtype());
        }
        if (buffer.length() < d.span()) {
            throw new ShapeMismatchException("tensor '" + param.name() + "' is declared " + d + " (" + d.span()
                    + " elements) but buffer '" + buffer.name() + "' has only " + buffer.length());
        }
        buffer.retain(owner);
        Buffer old = tensors[param.index()];
        tensors[param.index()] = buffer;
        if (held[param.index()] != null && held[param.index()] != buffer) {
            // Before the old buffer may be closed, its device copy comes home and is freed.
            memory.release(held[param.index()]);
            held[param.index()] = null;
        }
        if (old != null) {
            old.release(owner);
        }
        return this;
    }

    public Bindings set(IntScalar s, int value) {
        checkOpen();
        ints[s.index()] = value;
        intSet[s.index()] = true;
        return this;
    }

    public Bindings set(FloatScalar s, float value) {
        checkOpen();
        floats[s.index()] = value;
        floatSet[s.index()] = true;
        return this;
    }

    /** Asks for the ON_DEMAND transfers of {@code param} to happen on the next run. */
    public Bindings requestTransfer(TensorParam param) {
        transferRequested[param.index()] = true;
        return this;
    }

    public Buffer buffer(TensorParam param) {
        return tensors[param.index()];
    }

    /**
     * The buffer bound to {@code param}, with what a device wrote to it copied back first: how the host reads a
     * {@linkplain TaskGraph#resident resident} tensor after a run. For other tensors it is {@link #buffer}.
     */
    public Buffer toHost(TensorParam param) {
        Buffer b = tensors[param.index()];
        if (held[param.index()] != null) {
            memory.toHost(b);
        }
        return b;
    }

    /** Tells the device that the host wrote the resident tensor {@code param} between runs; a no-op otherwise. */
    public Bindings toDevice(TensorParam param) {
        if (held[param.index()] != null) {
            memory.toDevice(tensors[param.index()]);
        }
        return this;
    }

    /** Holds each resident tensor's bound buffer in the device's memory (once; again after a rebind). */
    void holdResident(ResidentMemory mem, List<TensorParam> resident) {
        memory = mem;
        for (TensorParam p : resident) {
            Buffer b = tensors[p.index()];
            if (held[p.index()] != b) {
                mem.hold(b);
                held[p.index()] = b;
            }
        }
    }

    void checkComplete() {
        checkOpen();
        for (Plan.Placed p : plan.placed()) {
            for (Arg a : p.task().args()) {
                String missing = switch (a) {
                    case TensorParam t -> tensors[t.index()] == null ? "tensor " + t : null;
                    case IntScalar s -> intSet[s.index()] ? null : "run-time scalar " + s;
                    case FloatScalar s -> floatSet[s.index()] ? null : "run-time scalar " + s;
                    case Arg.IntConst c -> null;
                    case Arg.FloatConst c -> null;
                };
                if (missing != null) {
                    throw new UnboundParameterException("plan '" + plan.graph().name() + "', task '"
                            + p.task().name() + "': " + missing + " is not bound");
                }
            }
        }
    }

    boolean transferDue(int taskIndex, TaskGraph.Transfer t) {
        return switch (t.mode()) {
            case ONCE -> !ranOnce;
            case EVERY_RUN -> true;
            case ON_DEMAND -> transferRequested[t.param().index()];
        };
    }

    void markRun() {
        ranOnce = true;
        java.util.Arrays.fill(transferRequested, false);
    }

    LaunchContext context(int taskIndex) {
        return contexts[taskIndex];
    }

    /** Releases every bound buffer, so they may be closed. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = 0; i < held.length; i++) {
            if (held[i] != null) {
                memory.release(held[i]);
                held[i] = null;
            }
        }
        for (int i = 0; i < tensors.length; i++) {
            if (tensors[i] != null) {
                tensors[i].release(owner);
                tensors[i] = null;
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new GaleException(owner + " are closed");
        }
    }

    /** A launch's view of the bindings: argument positions mapped to the bound values. */
    private final class Context implements LaunchContext {
        private final Arg[] args;

        Context(List<Arg> args) {
            this.args = args.toArray(Arg[]::new);
        }

        @Override
        public Buffer buffer(int i) {
            if (args[i] instanceof TensorParam t) {
                return tensors[t.index()];
            }
            throw new GaleException("argument " + i + " (" + args[i] + ") is not a tensor");
        }

        @Override
        public TensorDesc desc(int i) {
            if (args[i] instanceof TensorParam t) {
                return t.desc();
            }
            throw new GaleException("argument " + i + " (" + args[i] + ") is not a tensor");
        }

        @Override
        public int intArg(int i) {
            return switch (args[i]) {
                case IntScalar s -> ints[s.index()];
                case Arg.IntConst c -> c.value();
                default -> throw new GaleException("argument " + i + " (" + args[i] + ") is not an int");
            };
        }

        @Override
        public float floatArg(int i) {
            return switch (args[i]) {
                case FloatScalar s -> floats[s.index()];
                case Arg.FloatConst c -> c.value();
                case IntScalar s -> ints[s.index()];
                case Arg.IntConst c -> c.value();
                default -> throw new GaleException("argument " + i + " (" + args[i] + ") is not a number");
            };
        }
    }
}
