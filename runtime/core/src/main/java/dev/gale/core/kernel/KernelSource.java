package dev.gale.core.kernel;

import dev.gale.core.GaleException;
import dev.gale.core.buffer.DType;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * The device code that {@code gale-compiler} emitted for one {@link Kernel} method, loaded from the kernel's class
 * loader. For kernel {@code m} of class {@code C} (binary name), the resources are
 * {@code META-INF/gale/kernels/C.m.properties} (the descriptor), {@code C.m.cl} (OpenCL C 1.2) and {@code C.m.cu}
 * (CUDA C). The descriptor keys are:
 *
 * <pre>
 * format=1
 * class=C            method=m          entry=m          (the C function name)
 * opencl=C.m.cl      cuda=C.m.cu       cuda.options=--fmad=false
 * params=N           (Java parameters, in order)
 * param.i.name, param.i.kind = context | buffer | scalar | const
 * param.i.dtype  (buffer: F32 F16 I8 U8 I32 Q4)    param.i.access (buffer: read | write | readwrite)
 * param.i.type   (scalar, const: int long float)   param.i.arg (buffer, scalar: index of the device argument)
 * param.i.macro  (const: GALE_CONST_name)
 * </pre>
 *
 * Device arguments are the buffer and scalar parameters in Java order; the context and {@code @Const} parameters take
 * no argument slot. {@link #openclSource(Map)} and {@link #cudaSource(Map)} give the source specialised for given
 * constant values.
 */
public final class KernelSource {
    public static final String RESOURCE_DIR = "META-INF/gale/kernels/";

    public enum Kind { CONTEXT, BUFFER, SCALAR, CONST }

    public enum Access { READ, WRITE, READWRITE }

    /** One Java parameter; {@code dtype}/{@code access} only for buffers, {@code type} for scalars and constants. */
    public record Param(int index, String name, Kind kind, DType dtype, Access access, String type, int arg,
                        String macro) {
    }

    private final String className;
    private final String method;
    private final String entry;
    private final String opencl;
    private final String cuda;
    private final String cudaOptions;
    private final List<Param> params;

    private KernelSource(String className, String method, String entry, String opencl, String cuda,
                         String cudaOptions, List<Param> params) {
        this.className = className;
        this.method = method;
        this.entry = entry;
        this.opencl = opencl;
        this.cuda = cuda;
        this.cudaOptions = cudaOptions;
        this.params = List.copyOf(params);
    }

    /** Loads the emitted code of kernel {@code method} in {@code owner}, through the owner's class loader. */
    public static KernelSource load(Class<?> owner, String method) {
        ClassLoader cl = owner.getClassLoader() == null ? ClassLoader.getSystemClassLoader() : owner.getClassLoader();
        String base = RESOURCE_DIR + owner.getName() + "." + method;
        String desc = read(cl, base + ".properties", owner, method);
        Properties p = new Properties();
        try {
            p.load(new StringReader(desc));
        } catch (IOException e) {
            throw new GaleException("unreadable kernel descriptor " + base + ".properties: " + e.getMessage(), e);
        }
        if (!"1".equals(p.getProperty("format"))) {
            throw new GaleException("kernel descriptor " + base + ".properties has format " + p.getProperty("format")
                    + "; this runtime reads format 1");
        }
        int n = Integer.parseInt(req(p, "params", base));
        List<Param> ps = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String k = "param." + i + ".";
            Kind kind = Kind.valueOf(req(p, k + "kind", base).toUpperCase(java.util.Locale.ROOT));
            String dtype = p.getProperty(k + "dtype");
            String access = p.getProperty(k + "access");
            ps.add(new Param(i, req(p, k + "name", base), kind, dtype == null ? null : DType.valueOf(dtype),
                    access == null ? null : Access.valueOf(access.toUpperCase(java.util.Locale.ROOT)),
                    p.getProperty(k + "type"), Integer.parseInt(p.getProperty(k + "arg", "-1")),
                    p.getProperty(k + "macro")));
        }
        return new KernelSource(req(p, "class", base), req(p, "method", base), req(p, "entry", base),
                read(cl, RESOURCE_DIR + req(p, "opencl", base), owner, method),
                read(cl, RESOURCE_DIR + req(p, "cuda", base), owner, method), p.getProperty("cuda.options", ""), ps);
    }

    private static String req(Properties p, String key, String base) {
        String v = p.getProperty(key);
        if (v == null) {
            throw new GaleException("kernel descriptor " + base + ".properties lacks '" + key + "'");
        }
        return v;
    }

    private static String read(ClassLoader cl, String name, Class<?> owner, String method) {
        try (InputStream in = cl.getResourceAsStream(name)) {
            if (in == null) {
                throw new GaleException("no emitted device code for kernel " + owner.getName() + "." + method
                        + ": resource " + name + " is missing. Is it a @Kernel method, and did gale-compiler run "
                        + "as an annotation processor (javac -proc:full) on its class?");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new GaleException("cannot read " + name + ": " + e.getMessage(), e);
        }
    }

    public String className() {
        return className;
    }

    public String method() {
        return method;
    }

    /** Name of the kernel function in the emitted C. */
    public String entry() {
        return entry;
    }

    public List<Param> params() {
        return params;
    }

    /** Number of device arguments (buffers and scalars). */
    public int argCount() {
        return (int) params.stream().filter(p -> p.arg() >= 0).count();
    }

    /** Options the CUDA build should get (Java float semantics: no FMA contraction). */
    public String cudaOptions() {
        return cudaOptions;
    }

    /** The unspecialised OpenCL C (it refuses to build while a constant is undefined). */
    public String openclTemplate() {
        return opencl;
    }

    public String cudaTemplate() {
        return cuda;
    }

    public String openclSource(Map<String, ? extends Number> constants) {
        return defines(constants, false) + opencl;
    }

    public String cudaSource(Map<String, ? extends Number> constants) {
        return defines(constants, true) + cuda;
    }

    private String defines(Map<String, ? extends Number> constants, boolean cudaTarget) {
        Map<String, Number> left = new LinkedHashMap<>(constants);
        StringBuilder sb = new StringBuilder();
        for (Param p : params) {
            if (p.kind() != Kind.CONST) {
                continue;
            }
            Number v = left.remove(p.name());
            if (v == null) {
                throw new GaleException("kernel " + className + "." + method + " needs a value for @Const parameter '"
                        + p.name() + "' (" + p.type() + ")");
            }
            sb.append("#define ").append(p.macro()).append(' ').append(literal(p, v, cudaTarget)).append('\n');
        }
        if (!left.isEmpty()) {
            throw new GaleException("kernel " + className + "." + method + " has no @Const parameters named "
                    + left.keySet());
        }
        return sb.toString();
    }

    private String literal(Param p, Number v, boolean cudaTarget) {
        switch (p.type()) {
            case "int" -> {
                if (!(v instanceof Integer || v instanceof Short || v instanceof Byte)) {
                    throw badConst(p, v);
                }
                int i = v.intValue();
                return i == Integer.MIN_VALUE ? "(-2147483647-1)" : i < 0 ? "(" + i + ")" : Integer.toString(i);
            }
            case "long" -> {
                if (!(v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte)) {
                    throw badConst(p, v);
                }
                long l = v.longValue();
                String sfx = cudaTarget ? "LL" : "L";
                return l == Long.MIN_VALUE ? "(-9223372036854775807" + sfx + "-1" + sfx + ")"
                        : l < 0 ? "(" + l + sfx + ")" : l + sfx;
            }
            case "float" -> {
                if (!(v instanceof Float)) {
                    throw badConst(p, v);
                }
                float f = v.floatValue();
                if (!Float.isFinite(f)) {
                    throw new GaleException("@Const float '" + p.name() + "' of kernel " + className + "." + method
                            + " must be finite, got " + f);
                }
                return "(" + Float.toHexString(f) + "f)";
            }
            default -> throw new GaleException("@Const parameter '" + p.name() + "' has unknown type " + p.type());
        }
    }

    private GaleException badConst(Param p, Number v) {
        return new GaleException("@Const parameter '" + p.name() + "' of kernel " + className + "." + method
                + " is " + p.type() + ", got " + v.getClass().getSimpleName() + " " + v);
    }

    @Override
    public String toString() {
        return "KernelSource " + className + "." + method + " (entry " + entry + ", " + params.size() + " params)";
    }
}
