package dev.gale.cli;

import dev.gale.models.gguf.LlamaGguf;
import java.io.PrintStream;

/** Prints what a GGUF write did, including the matrices that could not take the requested type. */
final class Reports {
    private Reports() {
    }

    static void print(PrintStream out, String command, LlamaGguf.WriteReport r) {
        out.println(command + ": wrote " + r.file() + " (" + r.type() + " matrices, F32 norms)");
        if (!r.keptF32().isEmpty()) {
            out.println(command + ": " + r.keptF32().size() + " matrices kept as F32 because their rows are not a"
                    + " multiple of " + r.type().blockSize() + " elements: " + String.join(", ", r.keptF32()));
        }
    }
}
