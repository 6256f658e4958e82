package dev.gale.cuda;

import java.util.List;

/** NVRTC refused a kernel's CUDA C: the message has the kernel, the options, the whole log and the numbered source. */
public final class KernelBuildException extends CudaException {
    private final String log;

    KernelBuildException(String name, List<String> options, String error, String log, String source) {
        super("NVRTC could not compile " + name + " with " + options + ": " + error + "\n--- log ---\n" + log
                + "\n--- source ---\n" + numbered(source));
        this.log = log;
    }

    /** The compiler's log alone. */
    public String log() {
        return log;
    }

    private static String numbered(String source) {
        StringBuilder b = new StringBuilder();
        String[] lines = source.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            b.append(String.format("%4d  ", i + 1)).append(lines[i]).append('\n');
        }
        return b.toString();
    }
}
