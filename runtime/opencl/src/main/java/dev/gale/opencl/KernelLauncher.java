package dev.gale.opencl;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelSource;
import dev.gale.core.kernel.LaunchArguments;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Launches {@code gale-compiler} kernels on one OpenCL device: a launch session.
 *
 * <p>A launch takes the kernel's {@link KernelSource} (or its class and method name), the values of its
 * {@code @Const} parameters, a {@link Grid}, and the device arguments — the kernel's {@link Buffer} and scalar
 * parameters in Java order, leaving out the context and the constants. It checks the arguments against the
 * descriptor through {@link LaunchArguments} (a {@link dev.gale.core.kernel.KernelArgumentException} names the
 * parameter at fault); builds the specialised program through the context's
 * program cache (memory and disk); sets each argument at its descriptor {@code arg} index; copies buffers the kernel
 * reads to the device ({@link ClContext#write}, nothing on zero-copy devices such as PoCL, a read-only host buffer
 * only once), launches, waits with the
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

    /** The device mirror of one host buffer; {@code uploaded}: a read-only host buffer already copied over. */
    private static final class Mirror {
        final ClBuffer buffer;
        final long address;
        final long bytes;
        boolean uploaded;

        Mirror(ClBuffer buffer, long address, long bytes) {
            this.buffer = buffer;
            this.address = address;
            this.bytes = bytes;
        }
    }

    private long uploads;

    /** A session on {@code context}, which the caller keeps and closes. */
    public KernelLauncher(ClContext context) {
        this(context, false, context.device().javaFloatOptions());
    }

    private KernelLauncher(ClContext context, boolean ownsContext, String options) {
        this.context = context;
        this.ownsContext = ownsContext;
        this.options = options;
    }

    /** A session with its own context on {@code device}; closing the launcher closes the context. */
    public static KernelLauncher open(OpenClDevice device) {
        return new KernelLauncher(ClContext.create(device), true, device.javaFloatOptions());
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
        return launch(LaunchArguments.inline(source(owner, method), grid, maxGroupItems(), allArgs), grid);
    }

    /**
     * Launches {@code src} specialised with {@code constants} over {@code grid}; {@code args} are the buffer and
     * scalar parameters in Java order. Returns the device time of the kernel in nanoseconds (transfers excluded).
     */
    public long launch(KernelSource src, Map<String, ? extends Number> constants, Grid grid, Object... args) {
        return launch(LaunchArguments.of(src, constants, grid, maxGroupItems(), args), grid);
    }

    private long maxGroupItems() {
        return context.device().capabilities().maxWorkGroupSize();
    }

    private long launch(LaunchArguments la, Grid grid) {
        if (closed) {
            throw new OpenClException("kernel launcher used after close");
        }
        ClKernel kernel = kernel(la.source(), la.constants(), la.key());
        List<ClBuffer> readBack = new ArrayList<>();
        Object[] args = la.args();
        for (int i = 0; i < args.length; i++) {
            KernelSource.Param p = la.params().get(i);
            if (p.kind() == KernelSource.Kind.BUFFER) {
                Buffer host = (Buffer) args[i];
                Mirror m = mirror(host);
                ClBuffer b = m.buffer;
                if (p.access() != KernelSource.Access.WRITE) {
                    upload(host, m);
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

    private ClKernel kernel(KernelSource src, Map<String, ? extends Number> constants, String key) {
        ClKernel k = kernels.get(key);
        if (k == null) {
            k = context.program(src.openclSource(constants), options).kernel(src.entry());
            kernels.put(key, k);
        }
        return k;
    }

    /**
     * Copies {@code host} into its mirror before a launch that reads it, except a read-only host buffer (weights
     * bound with {@link Buffer#readOnly()}, a file mapped read-only) copied once already: it cannot have changed.
     * Without this a device with its own memory (a GPU through OpenCL) re-sent every weight matrix on every launch.
     */
    private void upload(Buffer host, Mirror m) {
        if (m.buffer.zeroCopy()) {
            return;
        }
        boolean readOnly = host.segment().isReadOnly();
        if (readOnly && m.uploaded) {
            return;
        }
        context.write(m.buffer);
        uploads++;
        m.uploaded = readOnly;
    }

    /** Host-to-device copies this session has issued (zero-copy buffers need none). */
    public long uploads() {
        return uploads;
    }

    private Mirror mirror(Buffer host) {
        long address = host.segment().address();
        long bytes = host.segment().byteSize();
        Mirror m = mirrors.get(host);
        if (m != null && m.address == address && m.bytes == bytes) {
            return m;
        }
        if (m != null) {
            m.buffer.close();
        }
        evictClosed();
        Mirror fresh = new Mirror(context.mirror(host), address, bytes);
        mirrors.put(host, fresh);
        return fresh;
    }

    private void evictClosed() {
        for (Iterator<Map.Entry<Buffer, Mirror>> it = mirrors.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Buffer, Mirror> e = it.next();
            if (!e.getKey().isOpen()) {
                e.getValue().buffer.close();
                it.remove();
            }
        }
    }

    /** Releases the device mirror of {@code host}, if this session made one. */
    public void forget(Buffer host) {
        Mirror m = mirrors.remove(host);
        if (m != null) {
            m.buffer.close();
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
        mirrors.values().forEach(m -> m.buffer.close());
        mirrors.clear();
        kernels.values().forEach(ClKernel::close);
        kernels.clear();
        if (ownsContext) {
            context.close();
        }
    }
}
