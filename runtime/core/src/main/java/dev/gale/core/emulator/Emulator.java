package dev.gale.core.emulator;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.kernel.F16;
import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.I32;
import dev.gale.core.kernel.I8;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;
import dev.gale.core.kernel.Q4;
import dev.gale.core.kernel.U8;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Runs a {@link Kernel} method on the JVM over a 1-3D {@link Grid} with the semantics a device gives it: every work
 * item of a group runs on its own virtual thread; the items meet at barriers; local arrays are allocated once per
 * group and shared by its items; atomics are real atomics on the backing memory. It is the semantic reference for the
 * translated OpenCL C and CUDA C.
 *
 * <p>Guarantees:
 * <ul>
 * <li>each item sees its own ids; {@code globalId = groupId * localSize + localId} in every dimension;</li>
 * <li>a barrier releases a group only when all its items have arrived at the same barrier call, and orders their
 *     memory accesses (happens-before) as a device's fence would;</li>
 * <li>barrier divergence (an item returns while others wait, or items wait at different barrier calls, or allocate
 *     different local arrays) fails the launch with {@link BarrierDivergenceException} instead of deadlocking;</li>
 * <li>an exception in any item (say an index out of bounds) fails the launch with an {@link EmulatorException} naming
 *     the item; the other items of its group are stopped at their next barrier;</li>
 * <li>groups run one after another, or up to {@code parallelGroups} at a time; kernels must not depend on the order
 *     of groups (devices give none).</li>
 * </ul>
 * Arithmetic is Java's, which the translator preserves on devices (see {@code gale-compiler}); transcendental
 * {@code KMath} functions differ from devices by a few ulp.
 */
public final class Emulator implements dev.gale.core.kernel.KernelRunner {
    private final int parallelGroups;

    private Emulator(int parallelGroups) {
        if (parallelGroups < 1) {
            throw new IllegalArgumentException("parallelGroups must be at least 1, got " + parallelGroups);
        }
        this.parallelGroups = parallelGroups;
    }

    /** Work groups one after another. */
    public static Emulator sequential() {
        return new Emulator(1);
    }

    /** Up to {@code groups} work groups at the same time. */
    public static Emulator parallel(int groups) {
        return new Emulator(groups);
    }

    /**
     * Runs the {@code @Kernel} method named {@code method} of {@code owner}; see {@link #run(Method, Grid, Object...)}.
     * Returns 0: the emulator measures no device time.
     */
    @Override
    public long run(Class<?> owner, String method, Grid grid, Object... args) {
        Method found = null;
        for (Method m : owner.getDeclaredMethods()) {
            if (m.getName().equals(method) && m.isAnnotationPresent(Kernel.class)) {
                if (found != null) {
                    throw new EmulatorException("kernel name " + owner.getName() + "." + method + " is overloaded");
                }
                found = m;
            }
        }
        if (found == null) {
            throw new EmulatorException("no @Kernel method " + method + " in " + owner.getName());
        }
        run(found, grid, args);
        return 0;
    }

    /**
     * Runs {@code kernel} over {@code grid}. {@code args} are the kernel's parameters in order, leaving out the
     * {@link KernelContext} (the emulator supplies one per item). A view parameter takes the view, a {@link Buffer}
     * or a {@link MemorySegment}; an {@code int}/{@code long}/{@code float} parameter takes an Integer/Long/Float.
     */
    public void run(Method kernel, Grid grid, Object... args) {
        if (!kernel.isAnnotationPresent(Kernel.class) || !Modifier.isStatic(kernel.getModifiers())) {
            throw new EmulatorException(kernel + " is not a static @Kernel method");
        }
        Class<?>[] types = kernel.getParameterTypes();
        int ctxIndex = -1;
        for (int i = 0; i < types.length; i++) {
            if (types[i] == KernelContext.class) {
                ctxIndex = i;
            }
        }
        int expected = types.length - (ctxIndex >= 0 ? 1 : 0);
        if (args.length != expected) {
            throw new EmulatorException("kernel " + kernel.getName() + " takes " + expected
                    + " arguments besides the KernelContext, got " + args.length);
        }
        Object[] base = new Object[types.length];
        int a = 0;
        for (int i = 0; i < types.length; i++) {
            if (i != ctxIndex) {
                base[i] = adapt(kernel, i, types[i], args[a++]);
            }
        }
        MethodHandle mh;
        try {
            kernel.setAccessible(true);
            mh = MethodHandles.lookup().unreflect(kernel);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new EmulatorException("cannot call kernel " + kernel + ": " + e, e);
        }
        Launch launch = new Launch(kernel.getDeclaringClass().getSimpleName() + "." + kernel.getName(), mh, base,
                ctxIndex, grid);
        int groups = grid.numGroups(0) * grid.numGroups(1) * grid.numGroups(2);
        if (parallelGroups == 1 || groups == 1) {
            for (int g = 0; g < groups; g++) {
                launch.runGroup(g);
            }
            return;
        }
        try (ExecutorService pool = Executors.newFixedThreadPool(Math.min(parallelGroups, groups),
                Thread.ofPlatform().daemon().name("gale-emulator-", 0).factory())) {
            List<Future<?>> fs = new ArrayList<>();
            for (int g = 0; g < groups; g++) {
                int gg = g;
                fs.add(pool.submit(() -> launch.runGroup(gg)));
            }
            for (Future<?> f : fs) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    fs.forEach(x -> x.cancel(true));
                    if (e.getCause() instanceof EmulatorException ee) {
                        throw ee;
                    }
                    throw new EmulatorException("emulated launch failed: " + e.getCause(), e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new EmulatorException("interrupted while emulating " + kernel.getName(), e);
                }
            }
        }
    }

    private static Object adapt(Method k, int i, Class<?> type, Object arg) {
        String where = "argument for parameter " + i + " (" + type.getSimpleName() + ") of kernel " + k.getName();
        if (arg == null) {
            throw new EmulatorException(where + " is null");
        }
        if (type.isInstance(arg)) {
            return arg;
        }
        if (type == int.class && arg instanceof Integer) {
            return arg;
        }
        if (type == long.class && (arg instanceof Long || arg instanceof Integer)) {
            return ((Number) arg).longValue();
        }
        if (type == float.class && arg instanceof Float) {
            return arg;
        }
        MemorySegment seg = null;
        if (arg instanceof Buffer b) {
            Object v = viewOf(type, b);
            if (v != null) {
                return v;
            }
        } else if (arg instanceof MemorySegment s) {
            seg = s;
        }
        if (seg != null) {
            if (type == F32.class) {
                return F32.of(seg);
            } else if (type == F16.class) {
                return F16.of(seg);
            } else if (type == I8.class) {
                return I8.of(seg);
            } else if (type == U8.class) {
                return U8.of(seg);
            } else if (type == I32.class) {
                return I32.of(seg);
            } else if (type == Q4.class) {
                return Q4.of(seg);
            }
        }
        throw new EmulatorException(where + " cannot be " + arg.getClass().getSimpleName() + " " + arg);
    }

    private static Object viewOf(Class<?> type, Buffer b) {
        if (type == F32.class) {
            return F32.of(b);
        } else if (type == F16.class) {
            return F16.of(b);
        } else if (type == I8.class) {
            return I8.of(b);
        } else if (type == U8.class) {
            return U8.of(b);
        } else if (type == I32.class) {
            return I32.of(b);
        } else if (type == Q4.class) {
            return Q4.of(b);
        }
        return null;
    }

    /** One launch: the kernel, its arguments and geometry. */
    record Launch(String name, MethodHandle kernel, Object[] args, int ctxIndex, Grid grid) {
        void runGroup(int linear) {
            int nx = grid.numGroups(0);
            int ny = grid.numGroups(1);
            int[] group = {linear % nx, (linear / nx) % ny, linear / (nx * ny)};
            int lx = grid.localSize(0);
            int ly = grid.localSize(1);
            int items = grid.groupItems();
            WorkGroup wg = new WorkGroup(name, group, items);
            Thread[] threads = new Thread[items];
            for (int i = 0; i < items; i++) {
                int[] local = {i % lx, (i / lx) % ly, i / (lx * ly)};
                ItemContext ctx = new ItemContext(wg, grid, group, local);
                Object[] callArgs = args.clone();
                if (ctxIndex >= 0) {
                    callArgs[ctxIndex] = ctx;
                }
                threads[i] = Thread.ofVirtual().name("gale-item-" + ctx.describe()).unstarted(() -> {
                    try {
                        kernel.invokeWithArguments(callArgs);
                    } catch (WorkGroup.Abort stop) {
                        // another item failed first; its failure is reported
                    } catch (Throwable t) {
                        wg.fail(new EmulatorException("work item " + ctx.describe() + " of kernel " + name
                                + " threw " + t, t));
                    } finally {
                        wg.exit(ctx);
                    }
                });
            }
            for (Thread t : threads) {
                t.start();
            }
            try {
                for (Thread t : threads) {
                    t.join();
                }
            } catch (InterruptedException e) {
                wg.fail(new EmulatorException("interrupted"));
                Thread.currentThread().interrupt();
            }
            wg.rethrow();
        }
    }
}
