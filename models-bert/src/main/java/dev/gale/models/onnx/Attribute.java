package dev.gale.models.onnx;

/**
 * One {@code AttributeProto}. Only the forms Gale's encoders read are kept: a float, an int, a string, an int list, a
 * float list and a tensor; graph-valued attributes (control flow) are skipped.
 *
 * @param type the {@code AttributeType} code (1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 6 FLOATS, 7 INTS), 0 if unset
 */
public record Attribute(String name, int type, float f, long i, String s, long[] ints, float[] floats, Tensor t) {
}
