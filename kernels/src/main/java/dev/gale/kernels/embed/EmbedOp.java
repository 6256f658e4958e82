package dev.gale.kernels.embed;

import static dev.gale.kernels.Operands.F32;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.buffer.FloatConversions;
import dev.gale.core.buffer.DType;
import dev.gale.core.buffer.TensorDesc;
import dev.gale.core.graph.Arg;
import dev.gale.core.graph.LaunchContext;
import dev.gale.kernels.KernelOp;
import dev.gale.kernels.quant.Q4_0;
import dev.gale.kernels.quant.Q8_0;
import dev.gale.kernels.quant.QuantKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The token embedding lookup as a graph launch: {@code (table [vocab, rowElements] in its format, ids [tokens] I32,
 * out [tokens, dim] F32)}. The ids are read from a buffer at run time, so a decode step's graph can embed the token its
 * own sampler chose without a trip through the host. The host paths reject an id outside the vocabulary with an error
 * naming it; device kernels cannot throw and write a zero row, which the caller sees as the id it sampled.
 */
public final class EmbedOp extends KernelOp {
    private final TableFormat format;
    private final int dim;

    public EmbedOp(TableFormat format, int dim) {
        if (dim < 1 || ((format == TableFormat.Q8_0 || format == TableFormat.Q4_0) && dim % 32 != 0)) {
            throw new IllegalArgumentException("embed: dim " + dim + " must be >= 1 (a multiple of 32 for "
                    + format + ")");
        }
        this.format = format;
        this.dim = dim;
    }

    @Override
    public String name() {
        return "embed_" + format.name().toLowerCase();
    }

    @Override
    public void check(List<Arg> args) {
        arity(args, 3, "(table [vocab, row], ids [tokens], out [tokens, dim])");
        TensorDesc table = tensor(args, 0, "table", format.dtype());
        TensorDesc ids = tensor(args, 1, "ids", DType.I32);
        TensorDesc out = tensor(args, 2, "out", DType.F32);
        require(table.rank() == 2 && table.dim(1) == format.rowElements(dim), "table " + table + " must be [vocab, "
                + format.rowElements(dim) + "] for " + format + " rows of " + dim);
        require(out.rank() == 2 && out.dim(1) == dim && out.dim(0) == ids.elementCount(), "out " + out
                + " must be [" + ids.elementCount() + ", " + dim + "]");
    }

    private static int id(LaunchContext ctx, int t, long vocab) {
        int id = ctx.segment(1).getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, t);
        if (id < 0 || id >= vocab) {
            throw new ShapeMismatchException("embed: token id " + id + " (position " + t + ") is outside the "
                    + vocab + "-token vocabulary");
        }
        return id;
    }

    @Override
    protected void vector(LaunchContext ctx) {
        long vocab = ctx.desc(0).dim(0);
        int tokens = (int) ctx.desc(2).dim(0);
        MemorySegment table = ctx.segment(0);
        MemorySegment out = ctx.segment(2);
        long rowBytes = format.dtype().byteSize(format.rowElements(dim));
        for (int t = 0; t < tokens; t++) {
            long src = id(ctx, t, vocab) * rowBytes;
            long dst = 4L * t * dim;
            switch (format) {
                case F32 -> MemorySegment.copy(table, src, out, dst, 4L * dim);
                case F16 -> FloatConversions.f16ToF32(table, src, out, dst, dim);
                case Q8_0 -> Q8_0.dequantize(table, src, out, dst, dim);
                case Q4_0 -> Q4_0.dequantize(table, src, out, dst, dim);
            }
        }
    }

    /** Element by element from the stored values, through the scalar conversions. */
    @Override
    protected void reference(LaunchContext ctx) {
        long vocab = ctx.desc(0).dim(0);
        int tokens = (int) ctx.desc(2).dim(0);
        MemorySegment table = ctx.segment(0);
        MemorySegment out = ctx.segment(2);
        long rowBytes = format.dtype().byteSize(format.rowElements(dim));
        for (int t = 0; t < tokens; t++) {
            long row = id(ctx, t, vocab) * rowBytes;
            for (int j = 0; j < dim; j++) {
                out.set(F32, 4L * ((long) t * dim + j), element(table, row, j));
            }
        }
    }

    private float element(MemorySegment table, long row, int j) {
        return switch (format) {
            case F32 -> table.get(F32, row + 4L * j);
            case F16 -> Float.float16ToFloat(table.get(ValueLayout.JAVA_SHORT_UNALIGNED, row + 2L * j));
            case Q8_0 -> {
                long p = row + (long) (j / 32) * Q8_0.BLOCK_BYTES;
                yield Float.float16ToFloat(table.get(ValueLayout.JAVA_SHORT_UNALIGNED, p))
                        * table.get(ValueLayout.JAVA_BYTE, p + 2 + j % 32);
            }
            case Q4_0 -> {
                long p = row + (long) (j / 32) * Q4_0.BLOCK_BYTES;
                int b = table.get(ValueLayout.JAVA_BYTE, p + 2 + (j % 32) % 16) & 0xFF;
                int nib = j % 32 < 16 ? b & 0xF : b >>> 4;
                yield Float.float16ToFloat(table.get(ValueLayout.JAVA_SHORT_UNALIGNED, p)) * (nib - 8);
            }
        };
    }

    @Override
    protected boolean hasKernel(List<Arg> args) {
        return true;
    }

    @Override
    protected List<KernelCall> kernelCalls(LaunchContext ctx) {
        int vocab = (int) ctx.desc(0).dim(0);
        int tokens = (int) ctx.desc(2).dim(0);
        var grid = elementGrid(Math.max(1, tokens * dim));
        Object[] args = {ctx.buffer(0), ctx.buffer(1), ctx.buffer(2), vocab, dim, tokens};
        return switch (format) {
            case F32 -> List.of(new KernelCall(EmbedKernels.class, "gatherF32", grid, args));
            case F16 -> List.of(new KernelCall(EmbedKernels.class, "gatherF16", grid, args));
            case Q8_0 -> List.of(new KernelCall(QuantKernels.class, "q8Rows", grid, args));
            case Q4_0 -> List.of(new KernelCall(QuantKernels.class, "q4Rows", grid, args));
        };
    }
}
