package dev.gale.core.graph;

/** A typed handle to an int run-time scalar (for example the decode position), set per run without rebuilding. */
public final class IntScalar implements Arg {
    private final TaskGraph graph;
    private final int index;
    private final String name;

    IntScalar(TaskGraph graph, int index, String name) {
        this.graph = graph;
        this.index = index;
        this.name = name;
    }

    @Override
    public String name() {
        return name;
    }

    int index() {
        return index;
    }

    TaskGraph graph() {
        return graph;
    }

    @Override
    public String toString() {
        return "int '" + name + "'";
    }
}
