package dev.gale.opencl;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Launches {@code gale-compiler} kernels on one OpenCL device: a launch session.
 *
 * <p>A launch takes the kernel's {@link KernelSource} (or its class and method name), the values of its
 * {@code @Const} parameters, a {@link Grid}, and the device arguments — the kernel's {@link Buffer} and scalar
 * parameters in Java order, leaving out the context and the constants. It checks the arguments against the
 * descriptor (count, buffer dtype, scalar type, open buffers, grid within the device's work-group limit) and fails
 * with a {@link KernelArgumentException} naming the parameter; builds the specialised program through the context's
 * program cache (memory and disk); sets each argument at its descriptor {@code arg} index; copies buffers the kernel
 * reads to the device ({@link ClContext#write}, nothing on zero-copy devices such as PoCL), launches, waits with the
 * context's deadline, copies buffers the kernel writes back ({@link ClContext#read}), and returns the profiled device
 * time in nanoseconds.
 *
 * <p>The session caches one kernel object per specialisation and one device mirror per host buffer, so repeated
 * launches neither rebuild nor re-wrap. A cached mirror is dropped when its buffer is closed or re-created;
 * {@link #forget(Buffer)} drops one early. Buffers a kernel only writes are not copied in first: the kernel must write
 * every element the caller reads (all Gale kernels do). Not thread-safe (kernel objects hold their arguments): use one
 * launcher per thread.
 */
public final class KernelLauncher implements AutoCloseable {
    private final ClContext context;
    private final boolean ownsContext;
    private final String options;
    private final Map<String, KernelSource> sources = new HashMap<>();
    private final Map<String, ClKernel> kernels = new HashMap<>();
    private final Map<Buffer, Mirror> mirrors = new IdentityHashMap<>();
    private boolean closed;

    private record Mirror(ClBuffer buffer, long address, long bytes) {
    }

    /** A session on {@code context}, which the caller keeps and closes. */
    public KernelLauncher(ClContext context) {
        this(context, false, "");
    }

    private KernelLauncher(ClContext context, boolean ownsContext, String options) {
        this.context = context;
        this.ownsContext = ownsContext;
        this.options = options;
    }

    /** A session with its own context on {@code device}; closing the launcher closes the context. */
    public static KernelLauncher open(OpenClDevice device) {
        return new KernelLauncher(ClContext.create(device), true, "");
    }

    public ClContext context() {
        return context;
    }

    /** The emitted code of kernel {@code method} of {@code owner}, loaded once per session. */
    public KernelSource source(Class<?> owner, String method) {
        return sources.computeIfAbsent(owner.getName() + "." + method, k -> KernelSource.load(owner, method));
    }

    /** {@link #launch(KernelSource, Map, Grid, Object...)} for kernel {@code method} of {@code owner}. */
    public long launch(Class<?> owner, String method, Map<String, ? extends Number> constants, Grid grid,
            Object... args) {
        return launch(source(owner, method), constants, grid, args);
    }

    /**
     * Launches with the argument list the emulator takes: every parameter but the context, in Java order, the
     * {@code @Const} values among them in their places. Convenient where one argument list drives both.
     */
    public long launchInline(Class<?> owner, String method, Grid grid, Object... allArgs) {
        KernelSource src = source(owner, method);
        List<KernelSource.Param> ps = new ArrayList<>();
        for (KernelSource.Param p : src.params()) {
            if (p.kind() != KernelSource.Kind.CONTEXT) {
                ps.add(p);
            }
        }
        String name = src.className() + "." + src.method();
        if (ps.size() != allArgs.length) {
            throw new KernelArgumentException(name, null, "takes " + ps.size()
                    + " arguments besides the context (constants included), got " + allArgs.length);
        }
        Map<String, Number> constants = new LinkedHashMap<>();
        List<Object> args = new ArrayList<>();
        for (int i = 0; i < allArgs.length; i++) {
            KernelSource.Param p = ps.get(i);
            if (p.kind() == KernelSource.Kind.CONST) {
                if (!(allArgs[i] instanceof Number v)) {
                    throw new KernelArgumentException(name, p.name(), "a @Const " + p.type() + " needs a number, got "
                            + describe(allArgs[i]));
                }
                constants.put(p.name(), v);
            } else {
                args.add(allArgs[i]);
            }
        }
        return launch(src, constants, grid, args.toArray());
    }

    /**
     * Launches {@code src} specialised with {@code constants} over {@code grid}; {@code args} are the buffer and
     * scalar parameters in Java order. Returns the device time of the kernel in nanoseconds (transfers excluded).
     */
    public long launch(KernelSource src, Map<String, ? extends Number> constants, Grid grid, Object... args) {
        if (closed) {
            throw new OpenClException("kernel launcher used after close");
        }
        String name = src.className() + "." + src.method();
        List<KernelSource.Param> device = new ArrayList<>();
        StringBuilder key = new StringBuilder(name).append('|');
        for (KernelSource.Param p : src.params()) {
            if (p.arg() >= 0) {
                device.add(p);
            } else if (p.kind() == KernelSource.Kind.CONST) {
                Number v = constants.get(p.name());
                if (v == null) {
                    throw new KernelArgumentException(name, p.name(), "needs a value for this @Const " + p.type());
                }
                key.append(p.name()).append('=').append(v.getClass().getSimpleName()).append(':').append(v)
                        .append(';');
            }
        }
        for (String c : constants.keySet()) {
            if (src.params().stream().noneMatch(p -> p.kind() == KernelSource.Kind.CONST && p.name().equals(c))) {
                throw new KernelArgumentException(name, c, "is not a @Const parameter of this kernel");
            }
        }
        if (args.length != device.size()) {
            throw new KernelArgumentException(name, null, "takes " + device.size()
                    + " device arguments (buffers and scalars, in Java order, without the @Const values), got "
                    + args.length);
        }
        long maxGroup = context.device().capabilities().maxWorkGroupSize();
        if (grid.groupItems() > maxGroup) {
            throw new KernelArgumentException(name, null, "work groups of " + grid.groupItems() + " items ("
                    + grid + ") exceed the device's limit of " + maxGroup);
        }
        for (int i = 0; i < args.length; i++) {
            check(name, device.get(i), args[i]);
        }
        ClKernel kernel = kernel(src, constants, key.toString());
        List<ClBuffer> readBack = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            KernelSource.Param p = device.get(i);
            if (p.kind() == KernelSource.Kind.BUFFER) {
                ClBuffer b = mirror((Buffer) args[i]);
                if (p.access() != KernelSource.Access.WRITE) {
                    context.write(b);
                }
                // A zero-copy buffer is the host memory: once the kernel's event has completed (run() waits on it, and
                // the queue is in order) there is nothing to read back, and a read would only add a second clFinish.
                if (p.access() != KernelSource.Access.READ && !b.zeroCopy()) {
                    readBack.add(b);
                }
                kernel.arg(p.arg(), b);
            } else {
                switch (p.type()) {
                    case "int" -> kernel.arg(p.arg(), ((Number) args[i]).intValue());
                    case "long" -> kernel.arg(p.arg(), ((Number) args[i]).longValue());
                    default -> kernel.arg(p.arg(), ((Number) args[i]).floatValue());
                }
            }
        }
        long nanos = context.run(kernel, grid.globalLong(), grid.localLong());
        for (ClBuffer b : readBack) {
            context.read(b);
        }
        return nanos;
    }

    private static void check(String name, KernelSource.Param p, Object arg) {
        if (arg == null) {
            throw new KernelArgumentException(name, p.name(), "argument is null");
        }
        if (p.kind() == KernelSource.Kind.BUFFER) {
            if (!(arg instanceof Buffer b)) {
                throw new KernelArgumentException(name, p.name(), "a " + p.dtype() + " view needs a Buffer, got "
                        + describe(arg));
            }
            if (!b.isOpen()) {
                throw new KernelArgumentException(name, p.name(), "buffer '" + b.name() + "' is closed");
            }
            if (b.dtype() != p.dtype()) {
                throw new KernelArgumentException(name, p.name(), "needs a " + p.dtype() + " buffer, '" + b.name()
                        + "' is " + b.dtype());
            }
            return;
        }
        boolean ok = switch (p.type()) {
            case "int" -> arg instanceof Integer || arg instanceof Short || arg instanceof Byte;
            case "long" -> arg instanceof Long || arg instanceof Integer || arg instanceof Short || arg instanceof Byte;
            case "float" -> arg instanceof Float;
            default -> false;
        };
        if (!ok) {
            throw new KernelArgumentException(name, p.name(), "a " + p.type() + " scalar cannot take "
                    + describe(arg));
        }
    }

    private static String describe(Object arg) {
        return arg == null ? "null" : arg.getClass().getSimpleName() + " " + arg;
    }

    private ClKernel kernel(KernelSource src, Map<String, ? extends Number> constants, String key) {
        ClKernel k = kernels.get(key);
        if (k == null) {
            k = context.program(src.openclSource(constants), options).kernel(src.entry());
            kernels.put(key, k);
        }
        return k;
    }

    private ClBuffer mirror(Buffer host) {
        long address = host.segment().address();
        long bytes = host.segment().byteSize();
        Mirror m = mirrors.get(host);
        if (m != null && m.address() == address && m.bytes() == bytes) {
            return m.buffer();
        }
        if (m != null) {
            m.buffer().close();
        }
        evictClosed();
        ClBuffer b = context.mirror(host);
        mirrors.put(host, new Mirror(b, address, bytes));
        return b;
    }

    private void evictClosed() {
        for (Iterator<Map.Entry<Buffer, Mirror>> it = mirrors.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Buffer, Mirror> e = it.next();
            if (!e.getKey().isOpen()) {
                e.getValue().buffer().close();
                it.remove();
            }
        }
    }

    /** Releases the device mirror of {@code host}, if this session made one. */
    public void forget(Buffer host) {
        Mirror m = mirrors.remove(host);
        if (m != null) {
            m.buffer().close();
        }
    }

    /** Kernel objects this session holds (one per kernel and set of constant values). */
    public int cachedKernels() {
        return kernels.size();
    }

    /** Device mirrors this session holds. */
    public int cachedMirrors() {
        return mirrors.size();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        context.finish();
        mirrors.values().forEach(m -> m.buffer().close());
        mirrors.clear();
        kernels.values().forEach(ClKernel::close);
        kernels.clear();
        if (ownsContext) {
            context.close();
        }
    }
}
