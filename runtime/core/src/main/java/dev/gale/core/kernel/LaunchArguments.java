package dev.gale.core.kernel;

import dev.gale.core.buffer.Buffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One launch's arguments checked against the kernel's descriptor, the same way on every backend: the count, each
 * buffer's dtype and openness, each scalar's type, the {@code @Const} values (present, known, and folded into the
 * specialisation key), and the work-group size against the device's limit. A mismatch is a
 * {@link KernelArgumentException} naming the kernel and the parameter, before anything reaches a driver.
 *
 * @param params    the device parameters (buffers and scalars) in Java order; {@code params.get(i)} takes
 *                  {@code args[i]} at device argument slot {@code params.get(i).arg()}
 * @param args      the device arguments, in the same order
 * @param constants the {@code @Const} values
 * @param key       kernel name plus the constant values: one compiled kernel per distinct key
 */
public record LaunchArguments(KernelSource source, List<KernelSource.Param> params, Object[] args,
                              Map<String, Number> constants, String key) {

    /** {@code Class.method} of the kernel, as errors name it. */
    public String kernelName() {
        return source.className() + "." + source.method();
    }

    /**
     * Splits the argument list the emulator takes (every parameter but the context, {@code @Const} values in their
     * places) into constants and device arguments, then checks them as {@link #of} does.
     */
    public static LaunchArguments inline(KernelSource src, Grid grid, long maxGroupItems, Object... allArgs) {
        String name = src.className() + "." + src.method();
        List<KernelSource.Param> ps = new ArrayList<>();
        for (KernelSource.Param p : src.params()) {
            if (p.kind() != KernelSource.Kind.CONTEXT) {
                ps.add(p);
            }
        }
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
        return of(src, constants, grid, maxGroupItems, args.toArray());
    }

    /**
     * Checks {@code args} (the buffer and scalar parameters in Java order, without the constants) and
     * {@code constants} against {@code src}, for a launch over {@code grid} on a device whose work groups hold at
     * most {@code maxGroupItems} items.
     */
    public static LaunchArguments of(KernelSource src, Map<String, ? extends Number> constants, Grid grid,
            long maxGroupItems, Object... args) {
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
        if (grid.groupItems() > maxGroupItems) {
            throw new KernelArgumentException(name, null, "work groups of " + grid.groupItems() + " items ("
                    + grid + ") exceed the device's limit of " + maxGroupItems);
        }
        for (int i = 0; i < args.length; i++) {
            check(name, device.get(i), args[i]);
        }
        return new LaunchArguments(src, List.copyOf(device), args.clone(), new LinkedHashMap<>(constants),
                key.toString());
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
}
