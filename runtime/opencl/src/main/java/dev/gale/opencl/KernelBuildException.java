package dev.gale.opencl;

/** A program failed to build: carries the driver's whole build log and the source with line numbers. */
public final class KernelBuildException extends OpenClException {
    private final String log;
    private final String source;

    KernelBuildException(String device, int code, String log, String source) {
        super("clBuildProgram on " + device + ": " + ClError.name(code) + " (" + code + ")\n--- build log ---\n"
                + log + "\n--- source ---\n" + numbered(source));
        this.log = log;
        this.source = source;
    }

    public String buildLog() {
        return log;
    }

    public String source() {
        return source;
    }

    static String numbered(String source) {
        StringBuilder b = new StringBuilder();
        String[] lines = source.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            b.append(String.format("%4d| %s%n", i + 1, lines[i]));
        }
        return b.toString();
    }
}
