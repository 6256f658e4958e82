/**
 * Reading ONNX files for their weights and node lists, without a protobuf library: {@code ProtoReader} walks the
 * wire format with every varint, length and offset checked against the enclosing message, {@code OnnxParser} knows
 * the field numbers of ModelProto, GraphProto, NodeProto, AttributeProto and TensorProto, and {@link
 * dev.gale.models.onnx.OnnxModel} is the result: nodes in graph order (anonymous weights are mapped by it) and
 * initializers whose data (raw_data, float_data, int32_data, int64_data) stays in the file's bytes until read.
 * Malformed input is an {@link dev.gale.models.onnx.OnnxFormatException} naming the field path and byte offset.
 */
package dev.gale.models.onnx;
