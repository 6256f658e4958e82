package dev.gale.core.graph;

import dev.gale.core.ShapeMismatchException;
import dev.gale.core.cpu.CpuDevice;
import dev.gale.core.buffer.DType;
import dev.gale.core.device.Device;
import dev.gale.core.device.ImplPath;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/** y = s·x over F32 vectors, the smallest op that exercises tensors, a scalar and shape checks. */
final class ScaleOp implements Op {
    private final List<ImplPath> cpuPaths;

    ScaleOp(ImplPath... cpuPaths) {
        this.cpuPaths = List.of(cpuPaths);
    }

    @Override
    public String name() {
        return "scale";
    }

    @Override
    public void check(List<Arg> args) {
        if (args.size() != 3 || !(args.get(0) instanceof TensorParam x) || !(args.get(1) instanceof TensorParam y)) {
            throw new ShapeMismatchException("scale takes (x, y, s)");
        }
        if (x.desc().dtype() != DType.F32 || !x.desc().sameShape(y.desc())) {
            throw new ShapeMismatchException("x " + x + " and y " + y + " must be F32 of one shape");
        }
    }

    @Override
    public List<ImplPath> paths(Device device) {
        return device instanceof CpuDevice ? cpuPaths : List.of();
    }

    @Override
    public void execute(ImplPath path, Device device, LaunchContext ctx) {
        MemorySegment x = ctx.segment(0);
        MemorySegment y = ctx.segment(1);
        float s = ctx.floatArg(2);
        long n = ctx.buffer(0).length();
        for (long i = 0; i < n; i++) {
            y.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, s * x.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i));
        }
    }
}
