package dev.gale.compiler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Constructs outside the subset are javac errors at the exact line, with a message that says what is allowed. */
class CompileErrorTest {
    private static JavaCompiler javac;
    private static StandardJavaFileManager files;

    @TempDir
    static Path out;

    @BeforeAll
    static void compiler() {
        javac = ToolProvider.getSystemJavaCompiler();
        files = javac.getStandardFileManager(null, Locale.ROOT, null);
    }

    @AfterAll
    static void close() throws IOException {
        files.close();
    }

    record Result(boolean success, List<Diagnostic<? extends JavaFileObject>> errors, Path classes) {
    }

    static Result compile(String className, String source) throws IOException {
        Path dir = Files.createTempDirectory(out, className);
        JavaFileObject src = new SimpleJavaFileObject(URI.create("string:///t/" + className + ".java"),
                JavaFileObject.Kind.SOURCE) {
            @Override
            public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                return source;
            }
        };
        DiagnosticCollector<JavaFileObject> diags = new DiagnosticCollector<>();
        JavaCompiler.CompilationTask task = javac.getTask(null, files, diags,
                List.of("-proc:full", "-d", dir.toString(), "-cp", System.getProperty("java.class.path")), null,
                List.of(src));
        task.setProcessors(List.of(new KernelProcessor()));
        boolean ok = task.call();
        List<Diagnostic<? extends JavaFileObject>> errors = new ArrayList<>();
        for (Diagnostic<? extends JavaFileObject> d : diags.getDiagnostics()) {
            if (d.getKind() == Diagnostic.Kind.ERROR) {
                errors.add(d);
            }
        }
        return new Result(ok, errors, dir);
    }

    /** A kernel class whose body is {@code body}; line 7 is the body's first line. */
    static String kernel(String body, String extra) {
        return """
                package t;
                import dev.gale.core.kernel.*;
                public class K {
                    static int counter;
                    @Kernel
                    public static void k(KernelContext ctx, F32 a, I32 b, int n) {
                """ + body + "\n    }\n" + extra + "}\n";
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            double local              | double d = 1.0;                               | double is not supported
            double through Math       | a.set(0, (float) Math.sqrt(2.0f));            | use float (float literals need an f suffix) and KMath
            object allocation         | float[] x = new float[4];                     | arrays are not supported in kernels except work-group local arrays
            string local              | String s = "x";                               | local variables are int, long, float or boolean
            view alias                | F32 v = a;                                    | local variables are int, long, float or boolean
            arbitrary call            | System.out.println(n);                        | call to PrintStream.println is not allowed in kernels
            increment in expression   | int x = 0; a.set(x++, 1.0f);                  | ++ and -- may only be used as statements
            assignment in expression  | int x = 0; int y = (x = 2);                   | assignments may only be used as statements
            mutable field             | b.set(0, counter);                            | fields cannot be read in kernels
            local array in a block    | if (n > 0) { float[] t = ctx.localFloats(4); } | must be declared at the top level of the kernel body
            local array size          | float[] t = ctx.localFloats(n);               | local array size must be a compile-time constant
            try catch                 | try { n++; } catch (RuntimeException e) { }   | try/catch/finally is not supported
            switch                    | switch (n) { case 1: n++; }                   | switch is not supported in kernels
            labelled break            | outer: for (int i = 0; i < n; i++) { break outer; } | labelled statements are not supported
            grid dimension            | int i = ctx.globalId(n);                      | must be the literal 0, 1 or 2
            host-side view call       | b.set(0, (int) a.length());                   | is host-side only
            lambda                    | Runnable r = () -> { };                       | local variables are int, long, float or boolean
            for each                  | for (int v : new int[] {1}) { n += v; }       | for-each loops are not supported
            """)
    void forbiddenConstructIsAnErrorAtItsLine(String what, String body, String message) throws IOException {
        Result r = compile("K", kernel("        " + body, ""));
        assertFalse(r.success(), what + " compiled");
        assertFalse(r.errors().isEmpty(), what + ": no error");
        for (Diagnostic<? extends JavaFileObject> d : r.errors()) {
            assertEquals(7, d.getLineNumber(), what + ": error on another line: " + d);
        }
        String all = r.errors().stream().map(d -> d.getMessage(Locale.ROOT)).reduce("", (x, y) -> x + "\n" + y);
        assertTrue(all.contains(message), what + ": expected '" + message + "' in:" + all);
        assertTrue(all.contains("Gale kernels allow:"), what + ": the message should say what is allowed");
    }

    @Test
    void recursionIsAnErrorAtTheCall() throws IOException {
        Result r = compile("K", kernel("        a.set(0, f(1.0f));", """
                    @DeviceFunction
                    static float f(float x) {
                        return x < 1.0f ? x : f(x * 0.5f);
                    }
                """));
        assertFalse(r.success());
        Diagnostic<? extends JavaFileObject> d = r.errors().getFirst();
        assertEquals(11, d.getLineNumber(), d.toString());
        assertEquals(32, d.getColumnNumber(), d.toString()); // javac places a call at its opening parenthesis
        assertTrue(d.getMessage(Locale.ROOT).contains("recursion is not allowed"), d.toString());
    }

    @Test
    void kernelSignatureIsChecked() throws IOException {
        Result r = compile("K", """
                package t;
                import dev.gale.core.kernel.*;
                public class K {
                    @Kernel
                    public int notVoid(KernelContext ctx, float[] values, boolean flag) {
                        return 0;
                    }
                    @DeviceFunction
                    static float ok(float x, @Const int c) {
                        return x;
                    }
                }
                """);
        assertFalse(r.success());
        List<String> msgs = r.errors().stream().map(d -> d.getLineNumber() + ": " + d.getMessage(Locale.ROOT))
                .toList();
        String all = String.join("\n", msgs);
        assertTrue(all.contains("5: @Kernel method notVoid must be static"), all);
        assertTrue(all.contains("5: a @Kernel method returns void"), all);
        assertTrue(all.contains("5: a kernel parameter cannot be float[]"), all);
        assertTrue(all.contains("5: a kernel cannot take a boolean"), all);
        assertTrue(all.contains("9: @Const belongs on kernel parameters"), all);
    }

    @Test
    void overloadedKernelsAreRejected() throws IOException {
        Result r = compile("K", kernel("", """
                    @Kernel
                    public static void k(KernelContext ctx, F32 a) {
                    }
                """));
        assertFalse(r.success());
        assertTrue(r.errors().stream().anyMatch(d -> d.getMessage(Locale.ROOT).contains("t.K.k is overloaded")),
                r.errors().toString());
    }

    @Test
    void deviceFunctionsMustShareTheKernelsTopLevelClass() throws IOException {
        Result r = compile("K", kernel("        a.set(0, Other.g(1.0f));", "") + """
                class Other {
                    @DeviceFunction
                    static float g(float x) {
                        return x;
                    }
                }
                """);
        assertFalse(r.success());
        Diagnostic<? extends JavaFileObject> d = r.errors().getFirst();
        assertEquals(7, d.getLineNumber(), d.toString());
        assertTrue(d.getMessage(Locale.ROOT).contains("must be declared in the same top-level class"), d.toString());
    }

    @Test
    void aValidKernelCompilesAndEmitsItsResources() throws IOException {
        Result r = compile("K", kernel("""
                        int i = ctx.globalId(0);
                        if (i < n) {
                            b.set(i, b.get(i) + 1);
                        }
                        a.set(0, (float) Math.PI + (float) -1e-3);
                """, ""));
        assertTrue(r.success(), r.errors().toString());
        for (String ext : List.of("cl", "cu", "properties")) {
            assertTrue(Files.exists(r.classes().resolve("META-INF/gale/kernels/t.K.k." + ext)), ext);
        }
        String props = Files.readString(r.classes().resolve("META-INF/gale/kernels/t.K.k.properties"));
        assertTrue(props.contains("param.1.access=write\n"), props);
        String cl = Files.readString(r.classes().resolve("META-INF/gale/kernels/t.K.k.cl"));
        assertTrue(cl.contains("a[0] = 3.1415927f + (-0.001f);"), cl);
        assertTrue(props.contains("param.2.access=readwrite\n"), props);
    }
}
