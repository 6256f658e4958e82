package dev.gale.compiler;

import com.sun.source.util.JavacTask;
import com.sun.source.util.TaskEvent;
import com.sun.source.util.TaskListener;
import com.sun.source.util.Trees;
import java.io.IOException;
import java.io.Writer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import javax.annotation.processing.AbstractProcessor;
import javax.annotation.processing.Filer;
import javax.annotation.processing.ProcessingEnvironment;
import javax.annotation.processing.RoundEnvironment;
import javax.lang.model.SourceVersion;
import javax.lang.model.element.Element;
import javax.lang.model.element.ElementKind;
import javax.lang.model.element.ExecutableElement;
import javax.lang.model.element.TypeElement;
import javax.tools.Diagnostic;
import javax.tools.FileObject;
import javax.tools.StandardLocation;

/**
 * The Gale kernel compiler, run by javac as an annotation processor. For every {@code @Kernel} method it checks the
 * SIMT subset (a violation is a javac error at the offending source position) and writes, next to the class files,
 * {@code META-INF/gale/kernels/<binary class name>.<method>.cl} (OpenCL C 1.2), {@code .cu} (CUDA C) and
 * {@code .properties} (the descriptor that {@code dev.gale.core.kernel.KernelSource} loads). {@code @DeviceFunction}
 * methods are checked even when no kernel of the compilation calls them.
 *
 * <p>Translation needs attributed trees (expression types), which javac has only after annotation processing. The
 * processor therefore collects the annotated methods while processing and translates them when javac reports that it
 * has analysed (attributed and flow-checked, not yet lowered) their top-level class. For the same reason a kernel's
 * device functions must be declared in the kernel's own top-level class (or classes nested in it).
 */
public final class KernelProcessor extends AbstractProcessor {
    private Trees trees;
    private Reporter reporter;
    private Translator translator;

    @Override
    public synchronized void init(ProcessingEnvironment env) {
        super.init(env);
        try {
            trees = Trees.instance(env);
        } catch (IllegalArgumentException e) {
            env.getMessager().printMessage(Diagnostic.Kind.ERROR,
                    "gale-compiler needs javac's Trees API (run it inside javac): " + e.getMessage());
            return;
        }
        try {
            JavacTask.instance(env).addTaskListener(new TaskListener() {
                @Override
                public void finished(TaskEvent e) {
                    if (e.getKind() == TaskEvent.Kind.ANALYZE && e.getTypeElement() != null) {
                        analysed(outermost(e.getTypeElement()));
                    }
                }
            });
        } catch (IllegalArgumentException e) {
            env.getMessager().printMessage(Diagnostic.Kind.ERROR,
                    "gale-compiler needs javac's task API (run it inside javac): " + e.getMessage());
            return;
        }
        reporter = new Reporter(trees);
        translator = new Translator(trees, reporter);
    }

    /** Top-level classes that hold annotated methods, by name (javac may re-create elements after processing). */
    private final Set<String> pending = new LinkedHashSet<>();

    static TypeElement outermost(Element e) {
        Element top = e;
        while (top.getEnclosingElement() != null && top.getEnclosingElement().getKind() != ElementKind.PACKAGE
                && top.getEnclosingElement().getKind() != ElementKind.MODULE) {
            top = top.getEnclosingElement();
        }
        return (TypeElement) top;
    }

    @Override
    public Set<String> getSupportedAnnotationTypes() {
        return Set.of(Translator.KERNEL, Translator.DEVICE_FUNCTION);
    }

    @Override
    public SourceVersion getSupportedSourceVersion() {
        return SourceVersion.latestSupported();
    }

    @Override
    public boolean process(Set<? extends TypeElement> annotations, RoundEnvironment round) {
        if (translator == null) {
            return false;
        }
        for (TypeElement a : annotations) {
            for (Element e : round.getElementsAnnotatedWith(a)) {
                if (e.getKind() == ElementKind.METHOD) {
                    pending.add(outermost(e).getQualifiedName().toString());
                }
            }
        }
        return false;
    }

    /** Translates the kernels of a top-level class that javac has just attributed. */
    private void analysed(TypeElement top) {
        if (!pending.remove(top.getQualifiedName().toString())) {
            return;
        }
        List<ExecutableElement> kernels = new ArrayList<>();
        List<ExecutableElement> deviceFunctions = new ArrayList<>();
        collect(top, kernels, deviceFunctions);
        for (ExecutableElement df : deviceFunctions) {
            if (!kernels.contains(df)) {
                translator.check(df);
            }
        }
        Set<String> names = new java.util.HashSet<>();
        for (ExecutableElement k : kernels) {
            String name = processingEnv.getElementUtils().getBinaryName((TypeElement) k.getEnclosingElement()) + "."
                    + k.getSimpleName();
            if (!names.add(name)) {
                processingEnv.getMessager().printMessage(Diagnostic.Kind.ERROR, "kernel " + name + " is overloaded; "
                        + "@Kernel methods need distinct names in their class (the name identifies the device code)",
                        k);
                continue;
            }
            Translator.Unit cl = translator.translate(k, Target.OPENCL);
            if (cl == null) {
                continue;
            }
            Translator.Unit cu = translator.translate(k, Target.CUDA);
            if (cu == null) {
                continue;
            }
            write(k, cl, cu);
        }
    }

    private static void collect(TypeElement type, List<ExecutableElement> kernels,
                                List<ExecutableElement> deviceFunctions) {
        for (Element e : type.getEnclosedElements()) {
            if (e.getKind() == ElementKind.METHOD) {
                if (Translator.hasAnnotation(e, Translator.KERNEL)) {
                    kernels.add((ExecutableElement) e);
                } else if (Translator.hasAnnotation(e, Translator.DEVICE_FUNCTION)) {
                    deviceFunctions.add((ExecutableElement) e);
                }
            } else if (e instanceof TypeElement nested) {
                collect(nested, kernels, deviceFunctions);
            }
        }
    }

    private void write(ExecutableElement k, Translator.Unit cl, Translator.Unit cu) {
        TypeElement owner = (TypeElement) k.getEnclosingElement();
        String base = processingEnv.getElementUtils().getBinaryName(owner) + "." + k.getSimpleName();
        Filer filer = processingEnv.getFiler();
        try {
            resource(filer, base + ".cl", cl.source(), owner);
            resource(filer, base + ".cu", cu.source(), owner);
            resource(filer, base + ".properties", Descriptors.of(owner, k, cl.kernel(), base), owner);
        } catch (IOException e) {
            processingEnv.getMessager().printMessage(Diagnostic.Kind.ERROR,
                    "gale-compiler cannot write the device code of " + base + ": " + e.getMessage(), k);
        }
    }

    private static void resource(Filer filer, String name, String text, Element origin) throws IOException {
        FileObject fo = filer.createResource(StandardLocation.CLASS_OUTPUT, "", "META-INF/gale/kernels/" + name,
                origin);
        try (Writer w = fo.openWriter()) {
            w.write(text);
        }
    }
}
