package dev.gale.core.kernel;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a {@code static} method that kernels may call. It is written in the same subset as a {@link Kernel} and is
 * emitted once, before the kernels that use it, as a C function. It may return {@code int}, {@code long},
 * {@code float}, {@code boolean} or nothing, and take scalars, buffer views, local arrays ({@code float[]},
 * {@code int[]} obtained from {@link KernelContext#localFloats}/{@link KernelContext#localInts}) and the
 * {@link KernelContext}. It may not be recursive, and must be compiled in the same javac run as its callers.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface DeviceFunction {
}
