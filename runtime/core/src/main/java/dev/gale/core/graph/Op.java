package dev.gale.core.graph;

import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import java.util.List;

/**
 * Something a graph can launch: an op with its implementations. Kernel families implement this; the graph checks
 * arguments once when the launch is added and picks an implementation path once when the plan is compiled.
 * Implementations must be stateless: one plan runs from several threads at once.
 */
public interface Op {
    String name();

    /**
     * Checks the arguments' kinds, dtypes and shapes when a launch is added to a graph.
     *
     * @throws dev.gale.core.ShapeMismatchException naming the argument and the shapes involved
     */
    void check(List<Arg> args);

    /** The implementations this op has on {@code device}, best first; empty when it cannot run there. */
    List<ImplPath> paths(Device device);

    /**
     * The implementations for one launch with these (already checked) arguments; an op whose device kernel covers
     * only some shapes narrows {@link #paths(Device)} here.
     */
    default List<ImplPath> paths(Device device, List<Arg> args) {
        return paths(device);
    }

    /**
     * What the chosen implementation will do with these arguments on {@code device}, for the plan and the run report
     * (for example which schedule a decode attention runs); empty when there is nothing to add.
     */
    default String detail(Device device, List<Arg> args) {
        return "";
    }

    /** Runs the op once with arguments resolved for this run. */
    void execute(ImplPath path, Device device, LaunchContext ctx);
}
