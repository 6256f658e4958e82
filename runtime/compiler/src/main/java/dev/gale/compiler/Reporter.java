package dev.gale.compiler;

import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.tree.Tree;
import com.sun.source.util.SourcePositions;
import com.sun.source.util.Trees;
import java.util.HashSet;
import java.util.Set;
import javax.tools.Diagnostic;

/** Reports subset violations as javac errors at the offending tree, once each. */
final class Reporter {
    /** Appended to messages so that every error says what kernels may use. */
    static final String SUBSET = " [Gale kernels allow: int, long, float and boolean locals; arithmetic, bit, shift "
            + "and comparison operators; if, for, while, do, break, continue, return, ?:; KernelContext calls; "
            + "get/set on F32, F16, I8, U8, I32 and Q4 views; local arrays from ctx.localFloats/localInts; KMath and "
            + "Math.min/max/abs/fma; calls to @DeviceFunction methods]";

    private final Trees trees;
    private final Set<String> seen = new HashSet<>();
    private int errors;

    Reporter(Trees trees) {
        this.trees = trees;
    }

    void error(Tree tree, CompilationUnitTree cu, String message) {
        SourcePositions sp = trees.getSourcePositions();
        String key = cu.getSourceFile().toUri() + ":" + sp.getStartPosition(cu, tree) + ":" + message;
        errors++;
        if (seen.add(key)) {
            trees.printMessage(Diagnostic.Kind.ERROR, message + SUBSET, tree, cu);
        }
    }

    int errors() {
        return errors;
    }
}
