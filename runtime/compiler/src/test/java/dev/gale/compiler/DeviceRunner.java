package dev.gale.compiler;

import static org.junit.jupiter.api.Assertions.fail;

import dev.gale.core.buffer.Buffer;
import dev.gale.core.device.Device;
import dev.gale.core.kernel.Grid;
import dev.gale.core.kernel.KernelSource;
import dev.gale.opencl.ClBuffer;
import dev.gale.opencl.ClContext;
import dev.gale.opencl.ClKernel;
import dev.gale.opencl.OpenClDevice;
import dev.gale.opencl.OpenClDeviceProvider;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;

/**
 * Launches an emitted kernel on the first OpenCL device through runtime/opencl, with the same argument list the
 * emulator takes (every parameter but the context, in order: Buffers for views, boxed numbers for scalars and
 * {@code @Const}s). Skips when there is no OpenCL device, unless GALE_REQUIRE_OPENCL=1.
 */
final class DeviceRunner {
    private DeviceRunner() {
    }

    static OpenClDevice device() {
        OpenClDeviceProvider p = new OpenClDeviceProvider();
        List<Device> devices = p.devices();
        if (devices.isEmpty()) {
            String why = "no OpenCL device: " + p.unavailableReason();
            if ("1".equals(System.getenv("GALE_REQUIRE_OPENCL"))) {
                fail(why + " (GALE_REQUIRE_OPENCL=1 makes this a failure)");
            }
            Assumptions.abort(why);
        }
        return (OpenClDevice) devices.getFirst();
    }

    static void run(ClContext ctx, Class<?> owner, String kernel, Grid grid, Object... args) {
        KernelSource ks = KernelSource.load(owner, kernel);
        Map<String, Number> consts = new LinkedHashMap<>();
        List<KernelSource.Param> ps = ks.params().stream().filter(p -> p.kind() != KernelSource.Kind.CONTEXT)
                .toList();
        if (ps.size() != args.length) {
            throw new IllegalArgumentException(kernel + " takes " + ps.size() + " arguments, got " + args.length);
        }
        for (int i = 0; i < args.length; i++) {
            if (ps.get(i).kind() == KernelSource.Kind.CONST) {
                consts.put(ps.get(i).name(), (Number) args[i]);
            }
        }
        List<ClBuffer> buffers = new ArrayList<>();
        try (ClKernel k = ctx.program(ks.openclSource(consts), "").kernel(ks.entry())) {
            for (int i = 0; i < args.length; i++) {
                KernelSource.Param p = ps.get(i);
                switch (p.kind()) {
                    case BUFFER -> {
                        ClBuffer b = ctx.mirror((Buffer) args[i]);
                        buffers.add(b);
                        ctx.write(b);
                        k.arg(p.arg(), b);
                    }
                    case SCALAR -> {
                        switch (p.type()) {
                            case "int" -> k.arg(p.arg(), (int) (Integer) args[i]);
                            case "long" -> k.arg(p.arg(), ((Number) args[i]).longValue());
                            default -> k.arg(p.arg(), (float) (Float) args[i]);
                        }
                    }
                    default -> {
                    }
                }
            }
            ctx.run(k, grid.globalLong(), grid.localLong());
            for (ClBuffer b : buffers) {
                ctx.read(b);
            }
        } finally {
            buffers.forEach(ClBuffer::close);
        }
    }
}
