package dev.gale.kernels.activation;

import dev.gale.core.kernel.F32;
import dev.gale.core.kernel.Kernel;
import dev.gale.core.kernel.KernelContext;

/** The device kernel of {@link BiasAdd}: one item per element, {@code Grid.of1(⌈rows·cols⌉, group)}. */
public final class BiasKernels {
    private BiasKernels() {
    }

    /** {@code y[i] += bias[i mod cols]} for {@code i < n = rows·cols}. */
    @Kernel
    public static void biasAdd(KernelContext ctx, F32 y, F32 bias, int cols, int n) {
        int i = ctx.globalId(0);
        if (i < n) {
            y.set(i, y.get(i) + bias.get(i % cols));
        }
    }
}
