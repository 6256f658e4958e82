package dev.gale.core.graph;

import dev.gale.core.buffer.TensorDesc;

/**
 * A typed handle to a tensor of a graph: its dtype and shape are fixed when the graph is built, the buffer behind it
 * is bound per {@link Bindings}. Handles belong to one graph; using one in another graph is an error.
 */
public final class TensorParam implements Arg {
    private final TaskGraph graph;
    private final int index;
    private final String name;
    private final TensorDesc desc;

    TensorParam(TaskGraph graph, int index, String name, TensorDesc desc) {
        this.graph = graph;
        this.index = index;
        this.name = name;
        this.desc = desc;
    }

    @Override
    public String name() {
        return name;
    }

    public TensorDesc desc() {
        return desc;
    }

    int index() {
        return index;
    }

    TaskGraph graph() {
        return graph;
    }

    @Override
    public String toString() {
        return "'" + name + "' " + desc;
    }
}
