package dev.gale.kernels.embed;

import dev.gale.core.buffer.DType;

// The enum constants Q8_0 and Q4_0 shadow the quant classes of the same names, hence the qualified calls.
/** How an embedding table's rows are stored, and the buffer dtype that holds them. */
public enum TableFormat {
    F32(DType.F32), F16(DType.F16), Q8_0(DType.I8), Q4_0(DType.U8);

    private final DType dtype;

    TableFormat(DType dtype) {
        this.dtype = dtype;
    }

    /** The dtype of the table buffer: the element type, or the byte type of the quantized blocks. */
    public DType dtype() {
        return dtype;
    }

    /** Elements of the table buffer per row of {@code dim} values. */
    public long rowElements(int dim) {
        return switch (this) {
            case F32, F16 -> dim;
            case Q8_0 -> dev.gale.kernels.quant.Q8_0.rowBytes(dim);
            case Q4_0 -> dev.gale.kernels.quant.Q4_0.rowBytes(dim);
        };
    }
}
