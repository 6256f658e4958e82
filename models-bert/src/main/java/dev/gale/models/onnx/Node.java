package dev.gale.models.onnx;

import java.util.List;
import java.util.Map;

/**
 * One {@code NodeProto}: an operator with its input and output value names (an empty name is an omitted optional
 * input) and its attributes by name.
 *
 * @param index  position in the graph's node list (the graph is topologically sorted, so this is execution order)
 * @param offset byte offset of the node's message in the file
 */
public record Node(int index, String name, String opType, String domain, List<String> inputs, List<String> outputs,
        Map<String, Attribute> attributes, long offset) {

    /** Input {@code i}, or "" when absent. */
    public String input(int i) {
        return i < inputs.size() ? inputs.get(i) : "";
    }

    public String output(int i) {
        return i < outputs.size() ? outputs.get(i) : "";
    }

    public Attribute attribute(String attrName) {
        return attributes.get(attrName);
    }

    @Override
    public String toString() {
        return "#" + index + " " + opType + " '" + name + "' " + inputs + " -> " + outputs;
    }
}
