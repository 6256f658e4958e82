package dev.gale.compiler;

import com.sun.source.tree.ArrayAccessTree;
import com.sun.source.tree.AssignmentTree;
import com.sun.source.tree.BinaryTree;
import com.sun.source.tree.BlockTree;
import com.sun.source.tree.BreakTree;
import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.tree.CompoundAssignmentTree;
import com.sun.source.tree.ConditionalExpressionTree;
import com.sun.source.tree.ContinueTree;
import com.sun.source.tree.DoWhileLoopTree;
import com.sun.source.tree.ExpressionStatementTree;
import com.sun.source.tree.ExpressionTree;
import com.sun.source.tree.ForLoopTree;
import com.sun.source.tree.IfTree;
import com.sun.source.tree.LiteralTree;
import com.sun.source.tree.MemberSelectTree;
import com.sun.source.tree.MethodInvocationTree;
import com.sun.source.tree.MethodTree;
import com.sun.source.tree.ParenthesizedTree;
import com.sun.source.tree.ReturnTree;
import com.sun.source.tree.StatementTree;
import com.sun.source.tree.Tree;
import com.sun.source.tree.TypeCastTree;
import com.sun.source.tree.UnaryTree;
import com.sun.source.tree.VariableTree;
import com.sun.source.tree.WhileLoopTree;
import com.sun.source.util.TreePath;
import com.sun.source.util.TreeScanner;
import com.sun.source.util.Trees;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import javax.lang.model.element.Element;
import javax.lang.model.element.ElementKind;
import javax.lang.model.element.ExecutableElement;
import javax.lang.model.element.Modifier;
import javax.lang.model.element.TypeElement;
import javax.lang.model.element.VariableElement;
import javax.lang.model.type.ArrayType;
import javax.lang.model.type.DeclaredType;
import javax.lang.model.type.TypeKind;
import javax.lang.model.type.TypeMirror;

/**
 * Translates one {@code @Kernel} method, and the {@code @DeviceFunction} methods it reaches, into one C translation
 * unit for a {@link Target}. Subset violations are reported through the {@link Reporter} at the offending tree.
 */
final class Translator {
    static final String KERNEL = "dev.gale.core.kernel.Kernel";
    static final String DEVICE_FUNCTION = "dev.gale.core.kernel.DeviceFunction";
    static final String CONST = "dev.gale.core.kernel.Const";
    static final String CONTEXT = "dev.gale.core.kernel.KernelContext";
    static final String KMATH = "dev.gale.core.kernel.KMath";
    static final Map<String, String> VIEWS = Map.of("dev.gale.core.kernel.F32", "F32", "dev.gale.core.kernel.F16",
            "F16", "dev.gale.core.kernel.I8", "I8", "dev.gale.core.kernel.U8", "U8", "dev.gale.core.kernel.I32", "I32",
            "dev.gale.core.kernel.Q4", "Q4");
    private static final Set<String> KMATH_FLOAT = Set.of("exp", "log", "sqrt", "rsqrt", "tanh", "sin", "cos", "pow",
            "floor", "ceil", "fma", "erf");
    private static final Pattern C_IDENT = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final Pattern VECTOR_TYPE = Pattern.compile(
            "(char|uchar|short|ushort|int|uint|long|ulong|float|double|half|bool)(2|3|4|8|16)");
    private static final Set<String> RESERVED = Set.of(
            // C and C++ keywords
            "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
            "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
            "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
            "bool", "true", "false", "class", "delete", "new", "namespace", "operator", "template", "this", "throw",
            "try", "catch", "typename", "using", "virtual", "friend", "private", "protected", "public", "asm",
            "mutable", "explicit", "export", "wchar_t", "nullptr", "constexpr", "decltype", "alignof", "alignas",
            "noexcept", "static_assert", "thread_local", "and", "or", "not", "xor", "bitand", "bitor", "compl",
            // OpenCL C qualifiers and types
            "global", "local", "constant", "kernel", "read_only", "write_only", "read_write", "half", "uchar",
            "ushort", "uint", "ulong", "size_t", "ptrdiff_t", "intptr_t", "uintptr_t", "event_t", "sampler_t",
            "image1d_t", "image2d_t", "image3d_t", "image1d_array_t", "image2d_array_t", "image1d_buffer_t",
            "complex", "imaginary", "quad",
            // CUDA built-in variables
            "threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize", "dim3",
            // names the emitter produces
            "exp", "expf", "log", "logf", "sqrt", "sqrtf", "rsqrt", "rsqrtf", "tanh", "tanhf", "sin", "sinf", "cos",
            "cosf", "pow", "powf", "floor", "floorf", "ceil", "ceilf", "fma", "fmaf", "erf", "erff", "fmin", "fminf",
            "fmax", "fmaxf", "fabs", "fabsf", "fmod", "fmodf", "min", "max", "llmin", "llmax", "abs", "barrier",
            "atomic_add", "atomic_min", "atomic_max", "atomic_cmpxchg", "atomicAdd", "atomicMin", "atomicMax",
            "atomicCAS", "vload_half", "vstore_half", "as_int", "as_float", "get_global_id", "get_local_id",
            "get_group_id", "get_global_size", "get_local_size", "get_num_groups", "INFINITY", "NAN", "NULL",
            "CLK_LOCAL_MEM_FENCE", "CLK_GLOBAL_MEM_FENCE");

    /** What a parameter of a kernel or device function is. */
    enum PKind { CONTEXT, VIEW, SCALAR, CONST, LOCAL_ARRAY }

    /** A Java value type in the subset. */
    enum Ty { INT, LONG, FLOAT, BOOLEAN, VOID, OTHER }

    static final class Param {
        final VariableElement element;
        final String javaName;
        final String cname;
        final PKind kind;
        final String dtype;
        final Ty scalar;
        final boolean floatArray;
        boolean read;
        boolean written;

        Param(VariableElement element, String cname, PKind kind, String dtype, Ty scalar, boolean floatArray) {
            this.element = element;
            this.javaName = element.getSimpleName().toString();
            this.cname = cname;
            this.kind = kind;
            this.dtype = dtype;
            this.scalar = scalar;
            this.floatArray = floatArray;
        }

        String macro() {
            return "GALE_CONST_" + cname;
        }
    }

    static final class Fn {
        final ExecutableElement element;
        final boolean kernel;
        String cname;
        final List<Param> params = new ArrayList<>();
        Ty returns = Ty.VOID;
        String text;

        Fn(ExecutableElement element, boolean kernel) {
            this.element = element;
            this.kernel = kernel;
        }
    }

    /** The result for one kernel and target. */
    record Unit(String source, Fn kernel) {
    }

    private record V(String c, Ty t) {
    }

    private final Trees trees;
    private final Reporter reporter;

    Translator(Trees trees, Reporter reporter) {
        this.trees = trees;
        this.reporter = reporter;
    }

    /** Translates {@code kernel}; null when it has errors (already reported). */
    Unit translate(ExecutableElement kernel, Target target) {
        int before = reporter.errors();
        Session s = new Session(target);
        Fn k = s.function(kernel, true, null, null);
        if (k == null || reporter.errors() != before) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        TypeElement owner = (TypeElement) kernel.getEnclosingElement();
        sb.append("// Generated by gale-compiler from ").append(owner.getQualifiedName()).append('.')
                .append(kernel.getSimpleName()).append(". Do not edit: change the Java source.\n");
        if (target == Target.OPENCL) {
            sb.append("// OpenCL C 1.2. Float arithmetic is not contracted into fma, as in Java.\n");
            sb.append("#pragma OPENCL FP_CONTRACT OFF\n");
        } else {
            sb.append("// CUDA C. Float +, -, *, / use the _rn intrinsics so that nothing is contracted into fma, "
                    + "as in Java.\n");
        }
        for (Param p : k.params) {
            if (p.kind == PKind.CONST) {
                sb.append("#ifndef ").append(p.macro()).append('\n')
                        .append("#error \"@Const ").append(javaType(p.scalar)).append(' ').append(p.javaName)
                        .append(": define ").append(p.macro()).append(" (KernelSource.openclSource/cudaSource do)\"\n")
                        .append("#endif\n");
            }
        }
        if (!s.helpers.isEmpty()) {
            sb.append('\n');
            for (Helpers h : s.helpers) {
                sb.append(h.render(target)).append('\n');
            }
        }
        for (Fn f : s.done.values()) {
            sb.append('\n').append(f.text);
        }
        return new Unit(sb.toString(), k);
    }

    /** Checks a device function on its own (for those no kernel reaches); reports errors only. */
    void check(ExecutableElement deviceFunction) {
        new Session(Target.OPENCL).function(deviceFunction, false, null, null);
    }

    static String javaType(Ty t) {
        return t.name().toLowerCase(java.util.Locale.ROOT);
    }

    static Ty ty(TypeMirror t) {
        return switch (t.getKind()) {
            case INT -> Ty.INT;
            case LONG -> Ty.LONG;
            case FLOAT -> Ty.FLOAT;
            case BOOLEAN -> Ty.BOOLEAN;
            case VOID -> Ty.VOID;
            default -> Ty.OTHER;
        };
    }

    static boolean hasAnnotation(Element e, String name) {
        return e.getAnnotationMirrors().stream()
                .anyMatch(a -> ((TypeElement) a.getAnnotationType().asElement()).getQualifiedName().contentEquals(name));
    }

    static String qualifiedName(TypeMirror t) {
        if (t instanceof DeclaredType d) {
            return ((TypeElement) d.asElement()).getQualifiedName().toString();
        }
        return t.toString();
    }

    static String cname(String javaName) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < javaName.length(); i++) {
            char c = javaName.charAt(i);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
                sb.append(c);
            } else {
                sb.append("_u").append(Integer.toHexString(c));
            }
        }
        String s = sb.toString();
        if (!C_IDENT.matcher(s).matches() || RESERVED.contains(s) || VECTOR_TYPE.matcher(s).matches()
                || s.startsWith("j_") || s.startsWith("gale_") || s.startsWith("GALE_") || s.startsWith("__")) {
            s = s + "_";
        }
        return s;
    }

    /** The functions of one translation unit. */
    private final class Session {
        final Target target;
        final EnumSet<Helpers> helpers = EnumSet.noneOf(Helpers.class);
        final Map<ExecutableElement, Fn> done = new LinkedHashMap<>();
        final Set<ExecutableElement> visiting = new HashSet<>();
        final Set<String> functionNames = new HashSet<>();
        TypeElement top;

        Session(Target target) {
            this.target = target;
        }

        /** Translates a function once (callees first); {@code call}/{@code callCu} locate a recursive call. */
        Fn function(ExecutableElement m, boolean kernel, Tree call, CompilationUnitTree callCu) {
            Fn have = done.get(m);
            if (have != null) {
                return have;
            }
            if (visiting.contains(m)) {
                reporter.error(call, callCu, "recursion is not allowed in kernels: " + m.getSimpleName()
                        + " calls itself, directly or through other device functions (devices have no call stack)");
                return null;
            }
            TreePath path = trees.getPath(m);
            if (top == null) {
                top = KernelProcessor.outermost(m);
            }
            if (call != null && !KernelProcessor.outermost(m).equals(top)) {
                reporter.error(call, callCu, "device function " + m.getEnclosingElement().getSimpleName() + "."
                        + m.getSimpleName() + " must be declared in the same top-level class as its caller (or a "
                        + "class nested in it): javac attributes one top-level class at a time, and the translator "
                        + "needs its attributed source");
                return null;
            }
            if (path == null || !(path.getLeaf() instanceof MethodTree mt)) {
                if (call != null) {
                    reporter.error(call, callCu, "device function " + m.getEnclosingElement() + "."
                            + m.getSimpleName() + " must be compiled in the same javac run as its callers (its "
                            + "source is needed to translate it)");
                }
                return null;
            }
            visiting.add(m);
            try {
                Fn fn = new Fn(m, kernel);
                new Emitter(this, fn, path.getCompilationUnit(), path, mt).emit();
                done.put(m, fn);
                return fn;
            } finally {
                visiting.remove(m);
            }
        }

        String functionName(ExecutableElement m) {
            String base = cname(m.getEnclosingElement().getSimpleName() + "_" + m.getSimpleName());
            String n = base;
            for (int i = 1; !functionNames.add(n); i++) {
                n = base + "_" + i;
            }
            return n;
        }
    }

    /** Emits one function. */
    private final class Emitter {
        final Session s;
        final Target t;
        final Fn fn;
        final CompilationUnitTree cu;
        final TreePath methodPath;
        final MethodTree mt;
        final Map<Element, Param> params = new HashMap<>();
        final Map<Element, String> locals = new HashMap<>();
        final Map<Element, Boolean> localArrays = new HashMap<>();
        boolean ok = true;

        Emitter(Session s, Fn fn, CompilationUnitTree cu, TreePath methodPath, MethodTree mt) {
            this.s = s;
            this.t = s.target;
            this.fn = fn;
            this.cu = cu;
            this.methodPath = methodPath;
            this.mt = mt;
        }

        void error(Tree tree, String msg) {
            ok = false;
            reporter.error(tree, cu, msg);
        }

        void emit() {
            ExecutableElement m = fn.element;
            String what = fn.kernel ? "@Kernel" : "@DeviceFunction";
            if (!m.getModifiers().contains(Modifier.STATIC)) {
                error(mt, what + " method " + m.getSimpleName() + " must be static");
            }
            if (!m.getTypeParameters().isEmpty()) {
                error(mt, what + " method " + m.getSimpleName() + " must not be generic");
            }
            if (hasAnnotation(m, KERNEL) && hasAnnotation(m, DEVICE_FUNCTION)) {
                error(mt, "a method is either @Kernel or @DeviceFunction, not both");
            }
            fn.returns = ty(m.getReturnType());
            if (fn.kernel && fn.returns != Ty.VOID) {
                error(mt.getReturnType(), "a @Kernel method returns void; write results through a buffer view");
            } else if (fn.returns == Ty.OTHER) {
                error(mt.getReturnType(), "a @DeviceFunction returns int, long, float, boolean or nothing, not "
                        + m.getReturnType());
            }
            if (mt.getBody() == null) {
                error(mt, what + " method " + m.getSimpleName() + " needs a body");
                return;
            }
            fn.cname = fn.kernel ? cname(m.getSimpleName().toString()) : s.functionName(m);
            boolean sawContext = false;
            for (int i = 0; i < m.getParameters().size(); i++) {
                VariableElement pe = m.getParameters().get(i);
                Tree ptree = mt.getParameters().get(i);
                Param p = param(pe, ptree);
                if (p == null) {
                    continue;
                }
                if (p.kind == PKind.CONTEXT) {
                    if (sawContext) {
                        error(ptree, "at most one KernelContext parameter");
                    }
                    sawContext = true;
                }
                fn.params.add(p);
                params.put(pe, p);
            }
            StringBuilder body = new StringBuilder();
            TreePath bodyPath = new TreePath(methodPath, mt.getBody());
            for (StatementTree st : mt.getBody().getStatements()) {
                statement(new TreePath(bodyPath, st), body, 1);
            }
            StringBuilder sb = new StringBuilder();
            if (fn.kernel) {
                sb.append(t == Target.OPENCL ? "__kernel void " : "extern \"C\" __global__ void ");
            } else {
                sb.append(t.functionPrefix()).append(cType(fn.returns)).append(' ');
            }
            sb.append(fn.cname).append('(');
            boolean first = true;
            for (Param p : fn.params) {
                String decl = paramDecl(p);
                if (decl == null) {
                    continue;
                }
                sb.append(first ? "" : ", ").append(decl);
                first = false;
            }
            sb.append(") {\n").append(body).append("}\n");
            fn.text = sb.toString();
        }

        Param param(VariableElement pe, Tree ptree) {
            TypeMirror pt = pe.asType();
            String cn = cname(pe.getSimpleName().toString());
            boolean isConst = hasAnnotation(pe, CONST);
            Ty st = ty(pt);
            if (isConst) {
                if (!fn.kernel) {
                    error(ptree, "@Const belongs on kernel parameters; a device function takes the value as an "
                            + "ordinary parameter");
                    return null;
                }
                if (st != Ty.INT && st != Ty.LONG && st != Ty.FLOAT) {
                    error(ptree, "a @Const parameter is an int, long or float, not " + pt);
                    return null;
                }
                return new Param(pe, cn, PKind.CONST, null, st, false);
            }
            if (st == Ty.INT || st == Ty.LONG || st == Ty.FLOAT) {
                return new Param(pe, cn, PKind.SCALAR, null, st, false);
            }
            if (st == Ty.BOOLEAN) {
                if (fn.kernel) {
                    error(ptree, "a kernel cannot take a boolean (OpenCL forbids bool kernel arguments); pass an int");
                    return null;
                }
                return new Param(pe, cn, PKind.SCALAR, null, st, false);
            }
            if (pt.getKind() == TypeKind.DOUBLE) {
                error(ptree, "double is not supported on devices (PoCL and many GPUs lack fast fp64); use float");
                return null;
            }
            if (pt instanceof ArrayType at && !fn.kernel
                    && (at.getComponentType().getKind() == TypeKind.FLOAT
                    || at.getComponentType().getKind() == TypeKind.INT)) {
                return new Param(pe, cn, PKind.LOCAL_ARRAY, null, null,
                        at.getComponentType().getKind() == TypeKind.FLOAT);
            }
            String q = qualifiedName(pt);
            if (q.equals(CONTEXT)) {
                return new Param(pe, cn, PKind.CONTEXT, null, null, false);
            }
            if (VIEWS.containsKey(q)) {
                return new Param(pe, cn, PKind.VIEW, VIEWS.get(q), null, false);
            }
            error(ptree, (fn.kernel ? "a kernel parameter" : "a device function parameter") + " cannot be " + pt
                    + (fn.kernel ? "; kernels take a KernelContext, buffer views (F32, F16, I8, U8, I32, Q4), int, "
                    + "long and float scalars, and @Const int/long/float"
                    : "; device functions take scalars, buffer views, local float[]/int[] arrays and the KernelContext"));
            return null;
        }

        String paramDecl(Param p) {
            return switch (p.kind) {
                case CONTEXT, CONST -> null;
                case SCALAR -> cType(p.scalar) + " " + p.cname;
                case LOCAL_ARRAY -> (t == Target.OPENCL ? "__local " : "") + (p.floatArray ? "float* " : "int* ")
                        + p.cname;
                case VIEW -> (t == Target.OPENCL ? "__global " : "") + (p.written ? "" : "const ")
                        + elementType(p.dtype) + "* " + p.cname;
            };
        }

        String elementType(String dtype) {
            boolean cl = t == Target.OPENCL;
            return switch (dtype) {
                case "F32" -> "float";
                case "F16" -> cl ? "half" : "unsigned short";
                case "I8" -> cl ? "char" : "signed char";
                case "U8", "Q4" -> cl ? "uchar" : "unsigned char";
                case "I32" -> "int";
                default -> throw new IllegalArgumentException(dtype);
            };
        }

        String cType(Ty ty) {
            return switch (ty) {
                case INT -> "int";
                case LONG -> t.longType();
                case FLOAT -> "float";
                case BOOLEAN -> "bool";
                case VOID -> "void";
                case OTHER -> throw new IllegalStateException();
            };
        }

        static String ind(int level) {
            return "    ".repeat(level);
        }

        // ---------------------------------------------------------------- statements

        void statement(TreePath p, StringBuilder out, int level) {
            Tree tree = p.getLeaf();
            switch (tree.getKind()) {
                case BLOCK -> {
                    out.append(ind(level)).append("{\n");
                    for (StatementTree st : ((BlockTree) tree).getStatements()) {
                        statement(new TreePath(p, st), out, level + 1);
                    }
                    out.append(ind(level)).append("}\n");
                }
                case VARIABLE -> variable(p, out, level);
                case EXPRESSION_STATEMENT -> {
                    String e = expressionStatement(new TreePath(p, ((ExpressionStatementTree) tree).getExpression()));
                    out.append(ind(level)).append(e).append(";\n");
                }
                case IF -> {
                    IfTree it = (IfTree) tree;
                    out.append(ind(level)).append("if (").append(condition(new TreePath(p, it.getCondition())))
                            .append(") ");
                    branch(new TreePath(p, it.getThenStatement()), out, level);
                    StatementTree els = it.getElseStatement();
                    while (els != null) {
                        out.setLength(out.length() - 1);
                        if (els instanceof IfTree elseIf) {
                            TreePath ep = new TreePath(p, els);
                            out.append(" else if (").append(condition(new TreePath(ep, elseIf.getCondition())))
                                    .append(") ");
                            branch(new TreePath(ep, elseIf.getThenStatement()), out, level);
                            els = elseIf.getElseStatement();
                            p = ep;
                        } else {
                            out.append(" else ");
                            branch(new TreePath(p, els), out, level);
                            els = null;
                        }
                    }
                }
                case FOR_LOOP -> forLoop(p, out, level);
                case WHILE_LOOP -> {
                    WhileLoopTree w = (WhileLoopTree) tree;
                    out.append(ind(level)).append("while (").append(condition(new TreePath(p, w.getCondition())))
                            .append(") ");
                    branch(new TreePath(p, w.getStatement()), out, level);
                }
                case DO_WHILE_LOOP -> {
                    DoWhileLoopTree d = (DoWhileLoopTree) tree;
                    out.append(ind(level)).append("do ");
                    branch(new TreePath(p, d.getStatement()), out, level);
                    out.setLength(out.length() - 1);
                    out.append(" while (").append(condition(new TreePath(p, d.getCondition()))).append(");\n");
                }
                case BREAK -> {
                    if (((BreakTree) tree).getLabel() != null) {
                        error(tree, "labelled break is not supported; restructure the loop or use a flag");
                    }
                    out.append(ind(level)).append("break;\n");
                }
                case CONTINUE -> {
                    if (((ContinueTree) tree).getLabel() != null) {
                        error(tree, "labelled continue is not supported; restructure the loop or use a flag");
                    }
                    out.append(ind(level)).append("continue;\n");
                }
                case RETURN -> {
                    ExpressionTree e = ((ReturnTree) tree).getExpression();
                    if (e == null) {
                        out.append(ind(level)).append("return;\n");
                    } else {
                        V v = value(new TreePath(p, e));
                        out.append(ind(level)).append("return ").append(convert(v, fn.returns, e)).append(";\n");
                    }
                }
                case EMPTY_STATEMENT -> out.append(ind(level)).append(";\n");
                case LABELED_STATEMENT -> error(tree, "labelled statements are not supported");
                case SWITCH -> error(tree, "switch is not supported in kernels; use if / else if");
                case ENHANCED_FOR_LOOP -> error(tree, "for-each loops are not supported; use a counted for loop");
                case TRY -> error(tree, "try/catch/finally is not supported: devices have no exceptions");
                case THROW -> error(tree, "throw is not supported: devices have no exceptions");
                case SYNCHRONIZED -> error(tree, "synchronized is not supported; use ctx.barrier() or atomics");
                case ASSERT -> error(tree, "assert is not supported in kernels");
                case CLASS -> error(tree, "local classes are not supported in kernels");
                default -> error(tree, "statement " + tree.getKind() + " is not supported in kernels");
            }
        }

        /** A branch or loop body, always emitted as a braced block ending in a newline. */
        void branch(TreePath p, StringBuilder out, int level) {
            if (p.getLeaf() instanceof BlockTree b) {
                out.append("{\n");
                for (StatementTree st : b.getStatements()) {
                    statement(new TreePath(p, st), out, level + 1);
                }
                out.append(ind(level)).append("}\n");
            } else {
                out.append("{\n");
                statement(p, out, level + 1);
                out.append(ind(level)).append("}\n");
            }
        }

        String condition(TreePath p) {
            V v = value(p);
            if (v.t != Ty.BOOLEAN && v.t != Ty.OTHER) {
                error(p.getLeaf(), "a condition must be boolean");
            }
            return strip(v.c);
        }

        void forLoop(TreePath p, StringBuilder out, int level) {
            ForLoopTree f = (ForLoopTree) p.getLeaf();
            StringBuilder init = new StringBuilder();
            List<? extends StatementTree> inits = f.getInitializer();
            if (!inits.isEmpty() && inits.get(0) instanceof VariableTree) {
                Ty declared = null;
                for (StatementTree st : inits) {
                    VariableTree vt = (VariableTree) st;
                    TreePath vp = new TreePath(p, vt);
                    VariableElement ve = (VariableElement) trees.getElement(vp);
                    Ty vty = ty(ve.asType());
                    if (vty == Ty.OTHER || vty == Ty.VOID) {
                        error(vt, "loop variables are int, long, float or boolean, not " + ve.asType());
                        continue;
                    }
                    String name = declareLocal(ve);
                    if (declared == null) {
                        init.append(cType(vty)).append(' ');
                        declared = vty;
                    } else {
                        init.append(", ");
                    }
                    init.append(name);
                    if (vt.getInitializer() != null) {
                        V v = value(new TreePath(vp, vt.getInitializer()));
                        init.append(" = ").append(strip(convert(v, vty, vt.getInitializer())));
                    }
                }
            } else {
                for (StatementTree st : inits) {
                    TreePath sp = new TreePath(p, st);
                    if (st instanceof ExpressionStatementTree es) {
                        init.append(init.isEmpty() ? "" : ", ")
                                .append(expressionStatement(new TreePath(sp, es.getExpression())));
                    } else {
                        error(st, "unsupported for-loop initializer");
                    }
                }
            }
            String cond = f.getCondition() == null ? "" : condition(new TreePath(p, f.getCondition()));
            StringBuilder upd = new StringBuilder();
            for (ExpressionStatementTree es : f.getUpdate()) {
                TreePath sp = new TreePath(p, es);
                upd.append(upd.isEmpty() ? "" : ", ").append(expressionStatement(new TreePath(sp, es.getExpression())));
            }
            out.append(ind(level)).append("for (").append(init).append("; ").append(cond).append("; ").append(upd)
                    .append(") ");
            branch(new TreePath(p, f.getStatement()), out, level);
        }

        String declareLocal(VariableElement ve) {
            String name = cname(ve.getSimpleName().toString());
            locals.put(ve, name);
            return name;
        }

        void variable(TreePath p, StringBuilder out, int level) {
            VariableTree vt = (VariableTree) p.getLeaf();
            VariableElement ve = (VariableElement) trees.getElement(p);
            TypeMirror type = ve.asType();
            Ty vty = ty(type);
            if (type instanceof ArrayType at) {
                localArray(p, vt, ve, at, out, level);
                return;
            }
            if (vty == Ty.OTHER) {
                error(vt, (type.getKind() == TypeKind.DOUBLE ? "double is not supported on devices; use float"
                        : "local variables are int, long, float or boolean (or a local array at the top of the "
                        + "kernel body), not " + type));
                return;
            }
            String name = declareLocal(ve);
            out.append(ind(level)).append(cType(vty)).append(' ').append(name);
            if (vt.getInitializer() != null) {
                V v = value(new TreePath(p, vt.getInitializer()));
                out.append(" = ").append(strip(convert(v, vty, vt.getInitializer())));
            }
            out.append(";\n");
        }

        void localArray(TreePath p, VariableTree vt, VariableElement ve, ArrayType at, StringBuilder out, int level) {
            ExpressionTree init = vt.getInitializer();
            TypeKind comp = at.getComponentType().getKind();
            boolean isFloat = comp == TypeKind.FLOAT;
            String want = isFloat ? "localFloats" : "localInts";
            boolean rightCall = false;
            if (init instanceof MethodInvocationTree mi && (comp == TypeKind.FLOAT || comp == TypeKind.INT)) {
                Element e = trees.getElement(new TreePath(p, init));
                rightCall = e instanceof ExecutableElement ee && e.getSimpleName().contentEquals(want)
                        && qualifiedName(ee.getEnclosingElement().asType()).equals(CONTEXT);
                if (rightCall && mi.getArguments().size() == 1) {
                    boolean topLevel = fn.kernel && p.getParentPath().getLeaf() == mt.getBody();
                    if (!topLevel) {
                        error(vt, "local arrays (ctx." + want + ") must be declared at the top level of the kernel "
                                + "body, not in a device function, block or loop: OpenCL allocates them per work "
                                + "group at kernel scope");
                        return;
                    }
                    TreePath ip = new TreePath(p, init);
                    String size = sizeExpr(new TreePath(ip, mi.getArguments().get(0)));
                    String name = declareLocal(ve);
                    localArrays.put(ve, isFloat);
                    out.append(ind(level)).append(t == Target.OPENCL ? "__local " : "__shared__ ")
                            .append(isFloat ? "float " : "int ").append(name).append('[').append(size).append("];\n");
                    return;
                }
            }
            error(vt, "arrays are not supported in kernels except work-group local arrays declared as "
                    + "'float[] x = ctx.localFloats(SIZE);' or 'int[] x = ctx.localInts(SIZE);'");
        }

        /** A local array size: int literals, constants and @Const int parameters with + - * / << >>. */
        String sizeExpr(TreePath p) {
            Tree tree = p.getLeaf();
            switch (tree.getKind()) {
                case INT_LITERAL -> {
                    return fmtInt((Integer) ((LiteralTree) tree).getValue());
                }
                case PARENTHESIZED -> {
                    return "(" + sizeExpr(new TreePath(p, ((ParenthesizedTree) tree).getExpression())) + ")";
                }
                case PLUS, MINUS, MULTIPLY, DIVIDE, LEFT_SHIFT, RIGHT_SHIFT -> {
                    BinaryTree b = (BinaryTree) tree;
                    String op = switch (tree.getKind()) {
                        case PLUS -> "+";
                        case MINUS -> "-";
                        case MULTIPLY -> "*";
                        case DIVIDE -> "/";
                        case LEFT_SHIFT -> "<<";
                        default -> ">>";
                    };
                    return "(" + sizeExpr(new TreePath(p, b.getLeftOperand())) + " " + op + " "
                            + sizeExpr(new TreePath(p, b.getRightOperand())) + ")";
                }
                case IDENTIFIER, MEMBER_SELECT -> {
                    Element e = trees.getElement(p);
                    Param par = params.get(e);
                    if (par != null && par.kind == PKind.CONST && par.scalar == Ty.INT) {
                        return par.macro();
                    }
                    if (e instanceof VariableElement ve && e.getKind() == ElementKind.FIELD
                            && ve.getConstantValue() instanceof Integer i) {
                        return fmtInt(i);
                    }
                }
                default -> {
                }
            }
            error(tree, "a local array size must be a compile-time constant: int literals, static final int "
                    + "constants and @Const int parameters, combined with + - * / << >>");
            return "1";
        }

        String expressionStatement(TreePath p) {
            Tree tree = p.getLeaf();
            switch (tree.getKind()) {
                case ASSIGNMENT -> {
                    AssignmentTree a = (AssignmentTree) tree;
                    TreePath lp = new TreePath(p, a.getVariable());
                    V lhs = lvalue(lp, false);
                    V rhs = value(new TreePath(p, a.getExpression()));
                    return lhs.c + " = " + strip(convert(rhs, lhs.t, a.getExpression()));
                }
                case PREFIX_INCREMENT, POSTFIX_INCREMENT, PREFIX_DECREMENT, POSTFIX_DECREMENT -> {
                    UnaryTree u = (UnaryTree) tree;
                    V lhs = lvalue(new TreePath(p, u.getExpression()), true);
                    boolean inc = tree.getKind() == Tree.Kind.PREFIX_INCREMENT
                            || tree.getKind() == Tree.Kind.POSTFIX_INCREMENT;
                    V one = new V(lhs.t == Ty.FLOAT ? "1.0f" : lhs.t == Ty.LONG ? "1" + t.longSuffix() : "1",
                            lhs.t == Ty.OTHER ? Ty.INT : lhs.t);
                    V r = arith(inc ? Tree.Kind.PLUS : Tree.Kind.MINUS, lhs, one, 1, tree);
                    return lhs.c + " = " + strip(r.c);
                }
                case PLUS_ASSIGNMENT, MINUS_ASSIGNMENT, MULTIPLY_ASSIGNMENT, DIVIDE_ASSIGNMENT, REMAINDER_ASSIGNMENT,
                     AND_ASSIGNMENT, OR_ASSIGNMENT, XOR_ASSIGNMENT, LEFT_SHIFT_ASSIGNMENT, RIGHT_SHIFT_ASSIGNMENT,
                     UNSIGNED_RIGHT_SHIFT_ASSIGNMENT -> {
                    CompoundAssignmentTree c = (CompoundAssignmentTree) tree;
                    V lhs = lvalue(new TreePath(p, c.getVariable()), true);
                    TreePath rp = new TreePath(p, c.getExpression());
                    V rhs = value(rp);
                    Tree.Kind op = switch (tree.getKind()) {
                        case PLUS_ASSIGNMENT -> Tree.Kind.PLUS;
                        case MINUS_ASSIGNMENT -> Tree.Kind.MINUS;
                        case MULTIPLY_ASSIGNMENT -> Tree.Kind.MULTIPLY;
                        case DIVIDE_ASSIGNMENT -> Tree.Kind.DIVIDE;
                        case REMAINDER_ASSIGNMENT -> Tree.Kind.REMAINDER;
                        case AND_ASSIGNMENT -> Tree.Kind.AND;
                        case OR_ASSIGNMENT -> Tree.Kind.OR;
                        case XOR_ASSIGNMENT -> Tree.Kind.XOR;
                        case LEFT_SHIFT_ASSIGNMENT -> Tree.Kind.LEFT_SHIFT;
                        case RIGHT_SHIFT_ASSIGNMENT -> Tree.Kind.RIGHT_SHIFT;
                        default -> Tree.Kind.UNSIGNED_RIGHT_SHIFT;
                    };
                    V r = binary(op, lhs, rhs, constValue(rp), tree);
                    return lhs.c + " = " + strip(cast(r, lhs.t, tree));
                }
                case METHOD_INVOCATION -> {
                    return strip(invocation(p).c);
                }
                default -> {
                    error(tree, "not a statement in the kernel subset: " + tree.getKind());
                    return "";
                }
            }
        }

        /** An assignable place: a local variable, a scalar parameter or a local array element. */
        V lvalue(TreePath p, boolean readToo) {
            Tree tree = p.getLeaf();
            if (tree instanceof ParenthesizedTree pt) {
                return lvalue(new TreePath(p, pt.getExpression()), readToo);
            }
            if (tree.getKind() == Tree.Kind.IDENTIFIER) {
                Element e = trees.getElement(p);
                Param par = params.get(e);
                if (par != null) {
                    if (par.kind == PKind.SCALAR) {
                        return new V(par.cname, par.scalar);
                    }
                    error(tree, par.kind == PKind.CONST ? "a @Const parameter is a compile-time constant and cannot "
                            + "be assigned" : "parameter " + par.javaName + " cannot be assigned");
                    return new V("x", Ty.OTHER);
                }
                String name = locals.get(e);
                if (name != null && !localArrays.containsKey(e)) {
                    return new V(name, ty(e.asType()));
                }
            } else if (tree instanceof ArrayAccessTree aa) {
                if (readToo && hasCall(aa.getIndex())) {
                    error(aa.getIndex(), "the index of a compound-assigned array element must not call methods "
                            + "(it is evaluated twice)");
                }
                return arrayAccess(p);
            }
            error(tree, "only local variables, scalar parameters and local array elements can be assigned; write "
                    + "buffers with view.set(index, value)");
            return new V("x", Ty.OTHER);
        }

        boolean hasCall(Tree tree) {
            Boolean r = new TreeScanner<Boolean, Void>() {
                @Override
                public Boolean visitMethodInvocation(MethodInvocationTree node, Void v) {
                    return true;
                }

                @Override
                public Boolean reduce(Boolean a, Boolean b) {
                    return Boolean.TRUE.equals(a) || Boolean.TRUE.equals(b);
                }
            }.scan(tree, null);
            return Boolean.TRUE.equals(r);
        }

        V arrayAccess(TreePath p) {
            ArrayAccessTree aa = (ArrayAccessTree) p.getLeaf();
            TreePath ap = new TreePath(p, aa.getExpression());
            Element e = trees.getElement(ap);
            String name = null;
            Boolean isFloat = null;
            if (aa.getExpression().getKind() == Tree.Kind.IDENTIFIER) {
                if (localArrays.containsKey(e)) {
                    name = locals.get(e);
                    isFloat = localArrays.get(e);
                } else if (params.get(e) != null && params.get(e).kind == PKind.LOCAL_ARRAY) {
                    name = params.get(e).cname;
                    isFloat = params.get(e).floatArray;
                }
            }
            if (name == null) {
                error(aa, "only work-group local arrays (from ctx.localFloats/localInts) can be indexed");
                return new V("x", Ty.OTHER);
            }
            V idx = value(new TreePath(p, aa.getIndex()));
            return new V(name + "[" + strip(idx.c) + "]", isFloat ? Ty.FLOAT : Ty.INT);
        }

        // ---------------------------------------------------------------- expressions

        /** A value of type int, long, float or boolean. */
        V value(TreePath p) {
            Tree tree = p.getLeaf();
            TypeMirror tm = trees.getTypeMirror(p);
            Ty vty = tm == null ? Ty.OTHER : ty(tm);
            if (tree instanceof TypeCastTree tc && (vty == Ty.INT || vty == Ty.LONG || vty == Ty.FLOAT)) {
                // A cast of a constant, such as (float) Math.PI or (float) 1e-6, is folded with Java's conversion.
                Object cv = constValue(new TreePath(p, tc.getExpression()));
                if (cv instanceof Number num && !(cv instanceof Float && vty == Ty.FLOAT)) {
                    Object folded = switch (vty) {
                        case INT -> num instanceof Double d ? (int) (double) d : num instanceof Float f
                                ? (int) (float) f : num.intValue();
                        case LONG -> num instanceof Double d ? (long) (double) d : num instanceof Float f
                                ? (long) (float) f : num.longValue();
                        default -> num instanceof Double d ? (float) (double) d : num.floatValue();
                    };
                    return new V(literal(folded, tree), vty);
                }
            }
            if (vty == Ty.OTHER) {
                if (tm != null && tm.getKind() == TypeKind.DOUBLE) {
                    error(tree, "double is not supported on devices (PoCL and many GPUs lack fast fp64); use float "
                            + "(float literals need an f suffix) and KMath instead of Math");
                } else if (tree.getKind() == Tree.Kind.NEW_CLASS || tree.getKind() == Tree.Kind.NEW_ARRAY) {
                    error(tree, "no object or array allocation in kernels; use ctx.localFloats/localInts for "
                            + "work-group arrays");
                } else if (tree.getKind() == Tree.Kind.LAMBDA_EXPRESSION
                        || tree.getKind() == Tree.Kind.MEMBER_REFERENCE) {
                    error(tree, "lambdas and method references are not supported in kernels");
                } else {
                    error(tree, "values of type " + tm + " are not supported here; kernel values are int, long, "
                            + "float and boolean");
                }
                return new V("0", Ty.OTHER);
            }
            switch (tree.getKind()) {
                case PARENTHESIZED -> {
                    V v = value(new TreePath(p, ((ParenthesizedTree) tree).getExpression()));
                    return new V(enclosed(v.c) ? v.c : "(" + v.c + ")", v.t);
                }
                case INT_LITERAL, LONG_LITERAL, FLOAT_LITERAL, BOOLEAN_LITERAL -> {
                    return new V(literal(((LiteralTree) tree).getValue(), tree), vty);
                }
                case IDENTIFIER, MEMBER_SELECT -> {
                    return name(p, vty);
                }
                case METHOD_INVOCATION -> {
                    return invocation(p);
                }
                case ARRAY_ACCESS -> {
                    return arrayAccess(p);
                }
                case CONDITIONAL_EXPRESSION -> {
                    ConditionalExpressionTree c = (ConditionalExpressionTree) tree;
                    String cond = condition(new TreePath(p, c.getCondition()));
                    V a = value(new TreePath(p, c.getTrueExpression()));
                    V b = value(new TreePath(p, c.getFalseExpression()));
                    return new V("(" + cond + " ? " + strip(convert(a, vty, tree)) + " : "
                            + strip(convert(b, vty, tree)) + ")", vty);
                }
                case TYPE_CAST -> {
                    TypeCastTree tc = (TypeCastTree) tree;
                    V v = value(new TreePath(p, tc.getExpression()));
                    return new V(cast(v, vty, tree), vty);
                }
                case UNARY_MINUS, UNARY_PLUS, BITWISE_COMPLEMENT, LOGICAL_COMPLEMENT -> {
                    return unary(p, vty);
                }
                case PREFIX_INCREMENT, POSTFIX_INCREMENT, PREFIX_DECREMENT, POSTFIX_DECREMENT -> {
                    error(tree, "++ and -- may only be used as statements (or for-loop updates), not inside "
                            + "expressions");
                    return new V("0", vty);
                }
                case ASSIGNMENT, PLUS_ASSIGNMENT, MINUS_ASSIGNMENT, MULTIPLY_ASSIGNMENT, DIVIDE_ASSIGNMENT,
                     REMAINDER_ASSIGNMENT, AND_ASSIGNMENT, OR_ASSIGNMENT, XOR_ASSIGNMENT, LEFT_SHIFT_ASSIGNMENT,
                     RIGHT_SHIFT_ASSIGNMENT, UNSIGNED_RIGHT_SHIFT_ASSIGNMENT -> {
                    error(tree, "assignments may only be used as statements, not inside expressions");
                    return new V("0", vty);
                }
                default -> {
                    if (tree instanceof BinaryTree b) {
                        TreePath lp = new TreePath(p, b.getLeftOperand());
                        TreePath rp = new TreePath(p, b.getRightOperand());
                        V l = value(lp);
                        V r = value(rp);
                        return binary(tree.getKind(), l, r, constValue(rp), tree);
                    }
                    error(tree, "expression " + tree.getKind() + " is not supported in kernels");
                    return new V("0", vty);
                }
            }
        }

        V name(TreePath p, Ty vty) {
            Tree tree = p.getLeaf();
            Element e = trees.getElement(p);
            Param par = params.get(e);
            if (par != null) {
                if (par.kind == PKind.SCALAR) {
                    return new V(par.cname, par.scalar);
                }
                if (par.kind == PKind.CONST) {
                    return new V(par.macro(), par.scalar);
                }
            }
            String local = locals.get(e);
            if (local != null && !localArrays.containsKey(e)) {
                return new V(local, vty);
            }
            if (e instanceof VariableElement ve && e.getKind() == ElementKind.FIELD) {
                Object cv = ve.getConstantValue();
                if (cv != null) {
                    return new V(literal(cv, tree), vty);
                }
                error(tree, "fields cannot be read in kernels, only static final compile-time constants; pass the "
                        + "value as a parameter (@Const if it should be baked in)");
                return new V("0", vty);
            }
            error(tree, "'" + tree + "' cannot be used as a value here");
            return new V("0", vty);
        }

        String literal(Object v, Tree where) {
            if (v instanceof Integer i) {
                return fmtInt(i);
            }
            if (v instanceof Long l) {
                return fmtLong(l);
            }
            if (v instanceof Float f) {
                return fmtFloat(f);
            }
            if (v instanceof Boolean b) {
                return b ? "true" : "false";
            }
            error(where, "constants of type " + v.getClass().getSimpleName() + " are not supported in kernels");
            return "0";
        }

        String fmtInt(int i) {
            return i == Integer.MIN_VALUE ? "(-2147483647 - 1)" : i < 0 ? "(" + i + ")" : Integer.toString(i);
        }

        String fmtLong(long l) {
            String sfx = t.longSuffix();
            return l == Long.MIN_VALUE ? "(-9223372036854775807" + sfx + " - 1" + sfx + ")"
                    : l < 0 ? "(" + l + sfx + ")" : l + sfx;
        }

        String fmtFloat(float f) {
            boolean cl = t == Target.OPENCL;
            if (Float.isNaN(f)) {
                return cl ? "NAN" : "__int_as_float(0x7fc00000)";
            }
            if (Float.isInfinite(f)) {
                return f > 0 ? (cl ? "INFINITY" : "__int_as_float(0x7f800000)")
                        : (cl ? "(-INFINITY)" : "__int_as_float((int)0xff800000)");
            }
            String s = Float.toString(f) + "f";
            return f < 0 || (f == 0 && 1 / f < 0) ? "(" + s + ")" : s;
        }

        /** The constant value of a literal, constant field or negated constant; null otherwise. */
        Object constValue(TreePath p) {
            Tree tree = p.getLeaf();
            switch (tree.getKind()) {
                case INT_LITERAL, LONG_LITERAL, FLOAT_LITERAL, DOUBLE_LITERAL, BOOLEAN_LITERAL -> {
                    return ((LiteralTree) tree).getValue();
                }
                case PARENTHESIZED -> {
                    return constValue(new TreePath(p, ((ParenthesizedTree) tree).getExpression()));
                }
                case UNARY_MINUS -> {
                    Object v = constValue(new TreePath(p, ((UnaryTree) tree).getExpression()));
                    if (v instanceof Integer i) {
                        return -i;
                    }
                    if (v instanceof Long l) {
                        return -l;
                    }
                    if (v instanceof Double d) {
                        return -d;
                    }
                    return v instanceof Float f ? -f : null;
                }
                case IDENTIFIER, MEMBER_SELECT -> {
                    Element e = trees.getElement(p);
                    return e instanceof VariableElement ve && e.getKind() == ElementKind.FIELD
                            ? ve.getConstantValue() : null;
                }
                default -> {
                    return null;
                }
            }
        }

        V unary(TreePath p, Ty vty) {
            UnaryTree u = (UnaryTree) p.getLeaf();
            TreePath op = new TreePath(p, u.getExpression());
            Object cv = constValue(op);
            V v = value(op);
            switch (u.getKind()) {
                case UNARY_MINUS -> {
                    if (vty == Ty.FLOAT) {
                        return new V(cv instanceof Float f ? fmtFloat(-f) : "(-" + v.c + ")", vty);
                    }
                    if (cv instanceof Integer i && vty == Ty.INT) {
                        return new V(fmtInt(-i), vty);
                    }
                    if (cv instanceof Long l && vty == Ty.LONG) {
                        return new V(fmtLong(-l), vty);
                    }
                    Helpers h = vty == Ty.LONG ? Helpers.LNEG : Helpers.INEG;
                    s.helpers.add(h);
                    return new V((vty == Ty.LONG ? "j_lneg(" : "j_ineg(") + strip(v.c) + ")", vty);
                }
                case UNARY_PLUS -> {
                    return new V(v.c, vty);
                }
                case BITWISE_COMPLEMENT -> {
                    return new V("(~" + v.c + ")", vty);
                }
                default -> {
                    return new V("(!" + v.c + ")", Ty.BOOLEAN);
                }
            }
        }

        static Ty promote(Ty a, Ty b) {
            if (a == Ty.FLOAT || b == Ty.FLOAT) {
                return Ty.FLOAT;
            }
            if (a == Ty.LONG || b == Ty.LONG) {
                return Ty.LONG;
            }
            return Ty.INT;
        }

        V binary(Tree.Kind k, V l, V r, Object rConst, Tree where) {
            switch (k) {
                case CONDITIONAL_AND -> {
                    return new V("(" + l.c + " && " + r.c + ")", Ty.BOOLEAN);
                }
                case CONDITIONAL_OR -> {
                    return new V("(" + l.c + " || " + r.c + ")", Ty.BOOLEAN);
                }
                case LESS_THAN, LESS_THAN_EQUAL, GREATER_THAN, GREATER_THAN_EQUAL, EQUAL_TO, NOT_EQUAL_TO -> {
                    String op = switch (k) {
                        case LESS_THAN -> " < ";
                        case LESS_THAN_EQUAL -> " <= ";
                        case GREATER_THAN -> " > ";
                        case GREATER_THAN_EQUAL -> " >= ";
                        case EQUAL_TO -> " == ";
                        default -> " != ";
                    };
                    return new V("(" + l.c + op + r.c + ")", Ty.BOOLEAN);
                }
                case AND, OR, XOR -> {
                    String op = k == Tree.Kind.AND ? " & " : k == Tree.Kind.OR ? " | " : " ^ ";
                    Ty rt = l.t == Ty.BOOLEAN ? Ty.BOOLEAN : promote(l.t, r.t);
                    if (rt == Ty.BOOLEAN) {
                        // C computes bool & bool in int; both sides are evaluated, as in Java.
                        return new V("((bool)(" + l.c + op + r.c + "))", Ty.BOOLEAN);
                    }
                    return new V("(" + l.c + op + r.c + ")", rt);
                }
                case LEFT_SHIFT, RIGHT_SHIFT, UNSIGNED_RIGHT_SHIFT -> {
                    return shift(k, l, r, rConst);
                }
                case PLUS, MINUS, MULTIPLY, DIVIDE, REMAINDER -> {
                    return arith(k, l, r, rConst, where);
                }
                default -> {
                    error(where, "operator " + k + " is not supported in kernels");
                    return new V("0", Ty.OTHER);
                }
            }
        }

        V shift(Tree.Kind k, V l, V r, Object rConst) {
            Ty lt = l.t == Ty.LONG ? Ty.LONG : Ty.INT;
            int mask = lt == Ty.LONG ? 63 : 31;
            String count = rConst instanceof Number n ? Long.toString(n.longValue() & mask)
                    : "(" + strip(r.c) + " & " + mask + ")";
            String u = lt == Ty.LONG ? t.ulongType() : t.uintType();
            String s2 = lt == Ty.LONG ? t.longType() : "int";
            return switch (k) {
                case LEFT_SHIFT -> new V("((" + s2 + ")((" + u + ")" + l.c + " << " + count + "))", lt);
                case RIGHT_SHIFT -> new V("(" + l.c + " >> " + count + ")", lt);
                default -> new V("((" + s2 + ")((" + u + ")" + l.c + " >> " + count + "))", lt);
            };
        }

        V arith(Tree.Kind k, V l, V r, Object rConst, Tree where) {
            Ty pt = promote(l.t, r.t);
            String a = strip(l.c);
            String b = strip(r.c);
            if (pt == Ty.FLOAT) {
                if (k == Tree.Kind.REMAINDER) {
                    return new V((t == Target.OPENCL ? "fmod(" : "fmodf(") + convert(l, Ty.FLOAT, where) + ", "
                            + convert(r, Ty.FLOAT, where) + ")", pt);
                }
                if (t == Target.CUDA) {
                    String fn2 = switch (k) {
                        case PLUS -> "__fadd_rn(";
                        case MINUS -> "__fsub_rn(";
                        case MULTIPLY -> "__fmul_rn(";
                        default -> "__fdiv_rn(";
                    };
                    return new V(fn2 + a + ", " + b + ")", pt);
                }
                String op = switch (k) {
                    case PLUS -> " + ";
                    case MINUS -> " - ";
                    case MULTIPLY -> " * ";
                    default -> " / ";
                };
                return new V("(" + l.c + op + r.c + ")", pt);
            }
            boolean isLong = pt == Ty.LONG;
            if (k == Tree.Kind.DIVIDE || k == Tree.Kind.REMAINDER) {
                if (rConst instanceof Number n && n.longValue() != 0 && n.longValue() != -1) {
                    return new V("(" + l.c + (k == Tree.Kind.DIVIDE ? " / " : " % ") + r.c + ")", pt);
                }
                Helpers h = k == Tree.Kind.DIVIDE ? (isLong ? Helpers.LDIV : Helpers.IDIV)
                        : (isLong ? Helpers.LREM : Helpers.IREM);
                s.helpers.add(h);
                return new V(helperName(h) + "(" + a + ", " + b + ")", pt);
            }
            Helpers h = switch (k) {
                case PLUS -> isLong ? Helpers.LADD : Helpers.IADD;
                case MINUS -> isLong ? Helpers.LSUB : Helpers.ISUB;
                default -> isLong ? Helpers.LMUL : Helpers.IMUL;
            };
            s.helpers.add(h);
            return new V(helperName(h) + "(" + a + ", " + b + ")", pt);
        }

        static String helperName(Helpers h) {
            return "j_" + h.name().toLowerCase(java.util.Locale.ROOT);
        }

        /** An explicit Java cast (or the narrowing of a compound assignment). */
        String cast(V v, Ty to, Tree where) {
            if (v.t == to || v.t == Ty.OTHER || to == Ty.OTHER) {
                return v.c;
            }
            switch (to) {
                case INT -> {
                    if (v.t == Ty.FLOAT) {
                        s.helpers.add(Helpers.F2I);
                        return "j_f2i(" + strip(v.c) + ")";
                    }
                    if (v.t == Ty.LONG) {
                        return "((int)" + v.c + ")";
                    }
                }
                case LONG -> {
                    if (v.t == Ty.FLOAT) {
                        s.helpers.add(Helpers.F2L);
                        return "j_f2l(" + strip(v.c) + ")";
                    }
                    if (v.t == Ty.INT) {
                        return "((" + t.longType() + ")" + v.c + ")";
                    }
                }
                case FLOAT -> {
                    if (v.t == Ty.INT || v.t == Ty.LONG) {
                        return "((float)" + v.c + ")";
                    }
                }
                default -> {
                }
            }
            error(where, "cannot convert " + javaType(v.t) + " to " + javaType(to) + " in kernels");
            return v.c;
        }

        /** An implicit Java widening (assignment, argument, return). */
        String convert(V v, Ty to, Tree where) {
            if (v.t == to || v.t == Ty.OTHER || to == Ty.OTHER || to == Ty.VOID) {
                return v.c;
            }
            return cast(v, to, where);
        }

        // ---------------------------------------------------------------- calls

        V invocation(TreePath p) {
            MethodInvocationTree mi = (MethodInvocationTree) p.getLeaf();
            Element el = trees.getElement(p);
            if (!(el instanceof ExecutableElement m)) {
                error(mi, "unresolved call");
                return new V("0", Ty.OTHER);
            }
            TypeElement owner = (TypeElement) m.getEnclosingElement();
            String ownerName = owner.getQualifiedName().toString();
            String name = m.getSimpleName().toString();
            List<TreePath> args = new ArrayList<>();
            for (ExpressionTree a : mi.getArguments()) {
                args.add(new TreePath(p, a));
            }
            Ty rt = ty(m.getReturnType());
            if (ownerName.equals(CONTEXT)) {
                return contextCall(mi, p, name, args);
            }
            if (VIEWS.containsKey(ownerName)) {
                return viewCall(mi, p, VIEWS.get(ownerName), name, args);
            }
            if (ownerName.equals(KMATH) || ownerName.equals("java.lang.Math")) {
                return mathCall(mi, ownerName.equals(KMATH), name, m, args, rt);
            }
            if (ownerName.equals("java.lang.Float")) {
                switch (name) {
                    case "floatToRawIntBits" -> {
                        V v = value(args.get(0));
                        return new V((t == Target.OPENCL ? "as_int(" : "__float_as_int(") + strip(v.c) + ")", Ty.INT);
                    }
                    case "intBitsToFloat" -> {
                        V v = value(args.get(0));
                        return new V((t == Target.OPENCL ? "as_float(" : "__int_as_float(") + strip(v.c) + ")",
                                Ty.FLOAT);
                    }
                    case "isNaN" -> {
                        if (m.getParameters().size() == 1) {
                            V v = value(args.get(0));
                            return new V("(" + v.c + " != " + v.c + ")", Ty.BOOLEAN);
                        }
                    }
                    default -> {
                    }
                }
                error(mi, "Float." + name + " is not available in kernels; Float.floatToRawIntBits, "
                        + "Float.intBitsToFloat and Float.isNaN are");
                return new V("0", rt);
            }
            if (hasAnnotation(m, DEVICE_FUNCTION)) {
                return deviceCall(mi, m, args, rt);
            }
            error(mi, "call to " + owner.getSimpleName() + "." + name + " is not allowed in kernels: only "
                    + "@DeviceFunction methods, KernelContext, buffer views (get/set), KMath, Math.min/max/abs/fma "
                    + "and Float.floatToRawIntBits/intBitsToFloat/isNaN"
                    + (hasAnnotation(m, KERNEL) ? " (a kernel cannot call another @Kernel; make the shared part a "
                    + "@DeviceFunction)" : ""));
            return new V("0", rt == Ty.VOID ? Ty.VOID : rt);
        }

        /** The receiver of an instance call, which must name a parameter of the given kind. */
        Param receiver(MethodInvocationTree mi, TreePath p, PKind kind) {
            if (mi.getMethodSelect() instanceof MemberSelectTree ms
                    && ms.getExpression().getKind() == Tree.Kind.IDENTIFIER) {
                TreePath msp = new TreePath(p, ms);
                Param par = params.get(trees.getElement(new TreePath(msp, ms.getExpression())));
                if (par != null && par.kind == kind) {
                    return par;
                }
            }
            error(mi, kind == PKind.CONTEXT ? "KernelContext methods must be called on the KernelContext parameter"
                    : "buffer views must be used through a kernel or device function parameter, as param.get(i) / "
                    + "param.set(i, v)");
            return null;
        }

        V contextCall(MethodInvocationTree mi, TreePath p, String name, List<TreePath> args) {
            if (receiver(mi, p, PKind.CONTEXT) == null) {
                return new V("0", Ty.OTHER);
            }
            switch (name) {
                case "globalId", "localId", "groupId", "globalSize", "localSize", "numGroups" -> {
                    Object d = constValue(args.get(0));
                    if (!(d instanceof Integer dim) || dim < 0 || dim > 2) {
                        error(mi.getArguments().get(0), "the dimension of ctx." + name
                                + " must be the literal 0, 1 or 2");
                        return new V("0", Ty.INT);
                    }
                    return new V(t.gridQuery(name, dim), Ty.INT);
                }
                case "barrier", "globalBarrier" -> {
                    if (!(p.getParentPath().getLeaf() instanceof ExpressionStatementTree)) {
                        error(mi, "ctx." + name + "() is a statement");
                    }
                    return new V(t.barrier(name.equals("globalBarrier")), Ty.VOID);
                }
                case "localFloats", "localInts" -> {
                    error(mi, "ctx." + name + " may only initialize a local array variable at the top level of the "
                            + "kernel body: 'float[] tile = ctx.localFloats(SIZE);'");
                    return new V("0", Ty.OTHER);
                }
                case "atomicAdd", "atomicMin", "atomicMax", "atomicCas" -> {
                    return atomic(mi, name, args);
                }
                default -> {
                    error(mi, "KernelContext." + name + " is not available in kernels");
                    return new V("0", Ty.OTHER);
                }
            }
        }

        V atomic(MethodInvocationTree mi, String name, List<TreePath> args) {
            TreePath target = args.get(0);
            Element e = trees.getElement(target);
            String ptr;
            boolean global;
            boolean isFloat;
            Param par = params.get(e);
            if (target.getLeaf().getKind() == Tree.Kind.IDENTIFIER && par != null
                    && (par.kind == PKind.VIEW || par.kind == PKind.LOCAL_ARRAY)) {
                global = par.kind == PKind.VIEW;
                isFloat = global ? par.dtype.equals("F32") : par.floatArray;
                par.read = true;
                par.written = true;
                ptr = par.cname;
            } else if (target.getLeaf().getKind() == Tree.Kind.IDENTIFIER && localArrays.containsKey(e)) {
                global = false;
                isFloat = localArrays.get(e);
                ptr = locals.get(e);
            } else {
                error(target.getLeaf(), "atomics work on an I32 or F32 view parameter or a local array variable");
                return new V("0", Ty.OTHER);
            }
            Ty vt = isFloat ? Ty.FLOAT : Ty.INT;
            String index = strip(value(args.get(1)).c);
            String at = "&" + ptr + "[" + index + "]";
            List<String> vals = new ArrayList<>();
            for (int i = 2; i < args.size(); i++) {
                vals.add(strip(convert(value(args.get(i)), vt, args.get(i).getLeaf())));
            }
            String rest = String.join(", ", vals);
            if (isFloat) {
                if (t == Target.CUDA) {
                    return new V("atomicAdd(" + at + ", " + rest + ")", vt);
                }
                Helpers h = global ? Helpers.ATOMIC_ADD_F_GLOBAL : Helpers.ATOMIC_ADD_F_LOCAL;
                s.helpers.add(h);
                return new V(helperName(h) + "(" + at + ", " + rest + ")", vt);
            }
            String fn2 = t == Target.OPENCL ? switch (name) {
                case "atomicAdd" -> "atomic_add";
                case "atomicMin" -> "atomic_min";
                case "atomicMax" -> "atomic_max";
                default -> "atomic_cmpxchg";
            } : switch (name) {
                case "atomicAdd" -> "atomicAdd";
                case "atomicMin" -> "atomicMin";
                case "atomicMax" -> "atomicMax";
                default -> "atomicCAS";
            };
            return new V(fn2 + "(" + at + ", " + rest + ")", vt);
        }

        V viewCall(MethodInvocationTree mi, TreePath p, String dtype, String name, List<TreePath> args) {
            if (!name.equals("get") && !name.equals("set")) {
                error(mi, dtype + "." + name + " is host-side only; kernels use get(index) and set(index, value)"
                        + (name.equals("length") ? " and take sizes as parameters" : ""));
                return new V("0", Ty.OTHER);
            }
            Param par = receiver(mi, p, PKind.VIEW);
            if (par == null) {
                return new V("0", Ty.OTHER);
            }
            String a = par.cname;
            String i = strip(value(args.get(0)).c);
            boolean cl = t == Target.OPENCL;
            Ty et = dtype.equals("F32") || dtype.equals("F16") ? Ty.FLOAT : Ty.INT;
            if (name.equals("get")) {
                par.read = true;
                return switch (dtype) {
                    case "F32", "I32" -> new V(a + "[" + i + "]", et);
                    case "F16" -> {
                        if (cl) {
                            yield new V("vload_half(" + i + ", " + a + ")", et);
                        }
                        s.helpers.add(Helpers.H2F);
                        yield new V("j_h2f(" + a + "[" + i + "])", et);
                    }
                    default -> new V("((int)" + a + "[" + i + "])", et);
                };
            }
            par.written = true;
            String v = strip(convert(value(args.get(1)), et, args.get(1).getLeaf()));
            return switch (dtype) {
                case "F32", "I32" -> new V(a + "[" + i + "] = " + v, Ty.VOID);
                case "F16" -> {
                    if (cl) {
                        yield new V("vstore_half(" + v + ", " + i + ", " + a + ")", Ty.VOID);
                    }
                    s.helpers.add(Helpers.F2H);
                    yield new V(a + "[" + i + "] = j_f2h(" + v + ")", Ty.VOID);
                }
                default -> new V(a + "[" + i + "] = (" + elementType(dtype) + ")(" + v + ")", Ty.VOID);
            };
        }

        V mathCall(MethodInvocationTree mi, boolean kmath, String name, ExecutableElement m, List<TreePath> args,
                   Ty rt) {
            List<Ty> pts = m.getParameters().stream().map(v -> ty(v.asType())).toList();
            boolean allFloat = !pts.isEmpty() && pts.stream().allMatch(x -> x == Ty.FLOAT);
            List<String> a = new ArrayList<>();
            for (int i = 0; i < args.size(); i++) {
                a.add(strip(convert(value(args.get(i)), pts.get(i), args.get(i).getLeaf())));
            }
            String joined = String.join(", ", a);
            boolean intLike = !pts.isEmpty() && pts.stream().allMatch(x -> x == Ty.INT || x == Ty.LONG);
            boolean isLong = pts.contains(Ty.LONG);
            if (kmath && allFloat && (KMATH_FLOAT.contains(name) || name.equals("min") || name.equals("max")
                    || name.equals("abs"))) {
                return new V(t.mathFunction(name) + "(" + joined + ")", Ty.FLOAT);
            }
            if (name.equals("abs") && intLike) {
                Helpers h = isLong ? Helpers.LABS : Helpers.IABS;
                s.helpers.add(h);
                return new V(helperName(h) + "(" + joined + ")", rt);
            }
            if ((name.equals("min") || name.equals("max")) && intLike) {
                String f = t == Target.CUDA && isLong ? "ll" + name : name;
                return new V(f + "(" + joined + ")", rt);
            }
            if (!kmath && allFloat) {
                switch (name) {
                    case "min", "max" -> {
                        Helpers h = name.equals("min") ? Helpers.FMIN_JAVA : Helpers.FMAX_JAVA;
                        s.helpers.add(h);
                        return new V((name.equals("min") ? "j_fmin(" : "j_fmax(") + joined + ")", Ty.FLOAT);
                    }
                    case "abs", "fma" -> {
                        return new V(t.mathFunction(name) + "(" + joined + ")", Ty.FLOAT);
                    }
                    default -> {
                    }
                }
            }
            if (!kmath) {
                error(mi, "Math." + name + " is not available in kernels"
                        + (KMATH_FLOAT.contains(name) ? " (it computes in double); use KMath." + name : "")
                        + "; Math.min, max, abs (int, long, float) and fma (float) are");
            } else {
                error(mi, "KMath." + name + " has no device mapping");
            }
            return new V("0", rt);
        }

        V deviceCall(MethodInvocationTree mi, ExecutableElement m, List<TreePath> args, Ty rt) {
            Fn callee = s.function(m, false, mi, cu);
            if (callee == null) {
                ok = false;
                return new V("0", rt);
            }
            List<String> a = new ArrayList<>();
            for (int i = 0; i < callee.params.size(); i++) {
                Param cp = callee.params.get(i);
                TreePath ap = args.get(i);
                Tree at = ap.getLeaf();
                switch (cp.kind) {
                    case CONTEXT -> {
                    }
                    case SCALAR -> a.add(strip(convert(value(ap), cp.scalar, at)));
                    case VIEW, LOCAL_ARRAY -> {
                        Element e = trees.getElement(ap);
                        Param mine = at.getKind() == Tree.Kind.IDENTIFIER ? params.get(e) : null;
                        if (mine != null && mine.kind == cp.kind) {
                            mine.read |= cp.read;
                            mine.written |= cp.written;
                            a.add(mine.cname);
                        } else if (cp.kind == PKind.LOCAL_ARRAY && at.getKind() == Tree.Kind.IDENTIFIER
                                && localArrays.containsKey(e)) {
                            a.add(locals.get(e));
                        } else {
                            error(at, cp.kind == PKind.VIEW
                                    ? "pass a buffer view parameter itself to a device function"
                                    : "pass a local array variable itself to a device function");
                        }
                    }
                    case CONST -> throw new IllegalStateException();
                }
            }
            return new V(callee.cname + "(" + String.join(", ", a) + ")", rt);
        }
    }

    /** Drops one pair of redundant outer parentheses, for readability where an expression stands alone. */
    static String strip(String c) {
        return enclosed(c) ? c.substring(1, c.length() - 1) : c;
    }

    /** Whether the whole of {@code c} is one parenthesised expression. */
    static boolean enclosed(String c) {
        if (c.length() < 2 || c.charAt(0) != '(' || c.charAt(c.length() - 1) != ')') {
            return false;
        }
        int depth = 0;
        for (int i = 0; i < c.length(); i++) {
            char ch = c.charAt(i);
            if (ch == '(') {
                depth++;
            } else if (ch == ')') {
                depth--;
                if (depth == 0 && i < c.length() - 1) {
                    return false;
                }
            }
        }
        return true;
    }
}
