package dev.gale.core.graph;

/** Java code run on the host as a task of a graph, for glue between launches. */
@FunctionalInterface
public interface HostTask {
    void run(LaunchContext ctx);
}
