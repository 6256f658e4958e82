package dev.gale.core.graph;

/** A typed handle to a float run-time scalar (for example a sampling temperature). */
public final class FloatScalar implements Arg {
    private final TaskGraph graph;
    private final int index;
    private final String name;

    FloatScalar(TaskGraph graph, int index, String name) {
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
        return "float '" + name + "'";
    }
}
